// Container probes as kubelet runs them: httpGet, tcpSocket and exec, every periodSeconds after
// initialDelaySeconds, flipping after successThreshold successes or failureThreshold failures.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { Obj } from './client.js';

export interface ProbeResult {
  ok: boolean;
  message?: string;
}

export interface ProbeTarget {
  podIP: string;
  container: Obj;
  /** Runs a command in the container's sandbox; resolves to its exit code. */
  exec(command: string[], timeoutMs: number): Promise<number>;
}

function resolvePort(port: number | string, container: Obj): number {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  const named = ((container.ports ?? []) as Obj[]).find((p) => p.name === port);
  if (!named) throw new Error(`port "${port}" not found in container ${container.name}`);
  return named.containerPort as number;
}

function httpProbe(get: Obj, target: ProbeTarget, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const https = String(get.scheme ?? 'HTTP').toUpperCase() === 'HTTPS';
    const headers: Record<string, string> = { 'user-agent': 'kube-probe/1.37', accept: '*/*' };
    for (const h of (get.httpHeaders ?? []) as { name: string; value: string }[]) headers[h.name.toLowerCase()] = h.value;
    const req = (https ? httpsRequest : httpRequest)(
      { host: get.host || target.podIP, port: resolvePort(get.port, target.container), path: get.path || '/', method: 'GET', headers, timeout: timeoutMs, rejectUnauthorized: false },
      (res) => {
        res.resume();
        const code = res.statusCode ?? 0;
        resolve(code >= 200 && code < 400 ? { ok: true } : { ok: false, message: `HTTP probe failed with statuscode: ${code}` });
      },
    );
    req.on('timeout', () => req.destroy(new Error('context deadline exceeded (Client.Timeout exceeded while awaiting headers)')));
    req.on('error', (err) => resolve({ ok: false, message: `Get "${https ? 'https' : 'http'}://${get.host || target.podIP}:${get.port}${get.path || '/'}": ${err.message}` }));
    req.end();
  });
}

function tcpProbe(tcp: Obj, target: ProbeTarget, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const host = tcp.host || target.podIP;
    const port = resolvePort(tcp.port, target.container);
    const socket = connect({ host, port, timeout: timeoutMs });
    socket.once('connect', () => {
      socket.destroy();
      resolve({ ok: true });
    });
    socket.once('timeout', () => socket.destroy(new Error('i/o timeout')));
    socket.once('error', (err) => resolve({ ok: false, message: `dial tcp ${host}:${port}: ${err.message}` }));
  });
}

export async function probeOnce(probe: Obj, target: ProbeTarget): Promise<ProbeResult> {
  const timeoutMs = ((probe.timeoutSeconds as number | undefined) ?? 1) * 1000;
  try {
    if (probe.httpGet) return await httpProbe(probe.httpGet, target, timeoutMs);
    if (probe.tcpSocket) return await tcpProbe(probe.tcpSocket, target, timeoutMs);
    if (probe.exec) {
      const code = await target.exec(probe.exec.command ?? [], timeoutMs);
      return code === 0 ? { ok: true } : { ok: false, message: `command ${JSON.stringify(probe.exec.command)} exited with ${code}` };
    }
    return { ok: false, message: `the test bed's node agent does not run ${Object.keys(probe).find((k) => !/Seconds|Threshold/.test(k)) ?? 'this'} probes` };
  } catch (err) {
    return { ok: false, message: (err as Error).message };
  }
}

/** Runs one probe until stopped; reports each change of its result (after the thresholds). */
export class ProbeWorker {
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private successes = 0;
  private failures = 0;

  constructor(
    private readonly probe: Obj,
    private readonly target: ProbeTarget,
    /** The result before the first probe: false for readiness and startup, true for liveness. */
    public result: boolean,
    private readonly handlers: {
      /** The result flipped. */
      changed(ok: boolean): void;
      /** The first failure of a streak (kubelet's Unhealthy event). */
      failed?(message: string): void;
      /** failureThreshold failures before the first success (a startup probe's verdict). */
      gaveUp?(): void;
    },
  ) {}

  start(): void {
    this.schedule(((this.probe.initialDelaySeconds as number | undefined) ?? 0) * 1000);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), ms);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    const outcome = await probeOnce(this.probe, this.target);
    if (this.stopped) return;
    if (outcome.ok) {
      this.failures = 0;
      this.successes++;
      if (!this.result && this.successes >= ((this.probe.successThreshold as number | undefined) ?? 1)) {
        this.result = true;
        this.handlers.changed(true);
      }
    } else {
      this.successes = 0;
      this.failures++;
      if (this.failures === 1) this.handlers.failed?.(outcome.message ?? 'probe failed');
      if (this.failures >= ((this.probe.failureThreshold as number | undefined) ?? 3)) {
        if (this.result) {
          this.result = false;
          this.handlers.changed(false);
        } else if (this.handlers.gaveUp) {
          this.stop();
          return this.handlers.gaveUp();
        }
      }
    }
    this.schedule(Math.max(1, (this.probe.periodSeconds as number | undefined) ?? 10) * 1000);
  }
}

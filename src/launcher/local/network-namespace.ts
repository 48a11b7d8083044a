// Each sandboxed job's own network namespace, joined to the outside world by pasta (Debian's
// `passt` package): content reaches other hosts (databases, APIs, package indexes) but neither the
// host's loopback services, nor Lectern's port, nor other workers. Lectern reaches the job's server
// through the one port pasta forwards from the host's 127.0.0.1 into the namespace; the job reaches
// the host's loopback only on the ports it is given (Lectern's API channel, src/http/api-channel.ts),
// which pasta forwards the other way, at the same port number on the namespace's 127.0.0.1.
//
// Usage (sandbox.ts):
//   command = [...enterNetworkNamespace(tools), ...rest]   // the root side: a new namespace, then wait
//   const network = await JobNetwork.connect(pid, stdin, { tools, ports, pidFile });  // after spawn
//   await network.listening(port); ... await network.close();
//
// The namespace exists before any content runs: the job's first process unshares it and then blocks
// until Lectern writes "up" on its stdin, which happens once pasta has configured the namespace.
// pasta runs as a child of the server (so it is stopped with the job and, through the parent-death
// signal, killed with the server), attached to the job's namespace through an inherited descriptor.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { open, readFile, readlink, stat } from 'node:fs/promises';
import type { Writable } from 'node:stream';

export interface NetworkTools {
  unshare: string;
  pasta: string;
  setpriv: string;
}

const SETUP_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
/** pasta reports every message it could not send to a system logger: noise in a server's log. */
const SYSLOG_NOISE = /^Failed to send \d+ bytes to syslog$/;

/** The root-side command prefix: a fresh network namespace, then nothing runs until "up" arrives on stdin. */
export function enterNetworkNamespace(tools: NetworkTools, sh: string): string[] {
  return [tools.unshare, '--net', '--', sh, '-c', 'read -r go && [ "$go" = up ] && exec </dev/null && exec "$@"', 'lectern-network'];
}

/**
 * pasta options: outbound TCP/UDP to the world; of the host's loopback only `hostPorts` (TCP, at
 * the same port on the namespace's 127.0.0.1); inbound only `ports` on 127.0.0.1.
 */
export function pastaOptions(ports: number[], hostPorts: number[], pidFile: string): string[] {
  return [
    '--foreground',
    '--quiet',
    // pasta drops to "nobody" by default, which could not enter a namespace root made; as root it
    // keeps only CAP_NET_ADMIN, CAP_SYS_ADMIN and CAP_NET_BIND_SERVICE and confines itself (seccomp,
    // empty mount namespace).
    '--runas',
    '0',
    '--config-net',
    // Without these, the gateway address leads to the host's loopback and every port bound on the
    // host is forwarded into the namespace (the defaults are for a desktop's containers).
    '--no-map-gw',
    '--udp-ns',
    'none',
    '--udp-ports',
    'none',
    // pasta connects these to the host's loopback; the namespace is the only side they listen on
    // (this pasta takes no address for -T: the port alone).
    ...(hostPorts.length ? hostPorts.flatMap((p) => ['--tcp-ns', String(p)]) : ['--tcp-ns', 'none']),
    ...(ports.length ? ports.flatMap((p) => ['--tcp-ports', `127.0.0.1/${p}`]) : ['--tcp-ports', 'none']),
    '--pid',
    pidFile,
    // fd 3 of pasta is the job's namespace, opened by the server (pasta itself may not open /proc/PID).
    '--netns',
    '/proc/self/fd/3',
  ];
}

export class JobNetwork {
  private constructor(
    private readonly pid: number,
    private readonly pasta: ChildProcess,
    private readonly exited: Promise<unknown>,
  ) {}

  /** Connects the namespace the job's process `pid` has made, then lets the job go on. Throws a sentence saying what failed. */
  static async connect(pid: number, stdin: Writable, options: { tools: NetworkTools; ports: number[]; hostPorts: number[]; pidFile: string }): Promise<JobNetwork> {
    const ownNamespace = await readlink('/proc/self/ns/net');
    const deadline = Date.now() + SETUP_TIMEOUT_MS;
    // The job's first process unshares right after it starts: wait for that (same pid throughout).
    for (;;) {
      const current = await readlink(`/proc/${pid}/ns/net`).catch(() => null);
      if (current === null) throw new Error('the job ended before it made its network namespace');
      if (current !== ownNamespace) break;
      if (Date.now() > deadline) throw new Error(`the job made no network namespace within ${SETUP_TIMEOUT_MS / 1000} s`);
      await sleep(5);
    }
    const namespace = await open(`/proc/${pid}/ns/net`, 'r');
    let pasta: ChildProcess;
    try {
      pasta = spawn(options.tools.setpriv, ['--pdeathsig', 'KILL', '--', options.tools.pasta, ...pastaOptions(options.ports, options.hostPorts, options.pidFile)], {
        stdio: ['ignore', 'ignore', 'pipe', namespace.fd],
        env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
      });
      await new Promise<void>((resolve, reject) => {
        pasta.once('spawn', resolve);
        pasta.once('error', reject);
      });
    } finally {
      await namespace.close();
    }
    let stderr = '';
    pasta.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = once(pasta, 'exit').catch(() => undefined);
    let gone = false;
    void exited.then(() => (gone = true));
    const network = new JobNetwork(pid, pasta, exited);
    // pasta writes its pid file once the namespace is configured and the ports are bound.
    while (
      !(await stat(options.pidFile).then(
        (s) => s.size > 0,
        () => false,
      ))
    ) {
      const failed = gone || Date.now() > deadline;
      if (failed) {
        await network.close();
        const said = stderr
          .split('\n')
          .map((l) => l.trim())
          .filter((l) => l && !SYSLOG_NOISE.test(l))
          .join('; ');
        throw new Error(`pasta ${gone ? `exited (code ${pasta.exitCode ?? pasta.signalCode})` : `was not ready within ${SETUP_TIMEOUT_MS / 1000} s`}${said ? `: ${said}` : ''}`);
      }
      await sleep(10);
    }
    stdin.end('up\n');
    return network;
  }

  /** Whether a server in the job's namespace listens on `port` (a connection through pasta would succeed even when none does). */
  async listening(port: number): Promise<boolean> {
    for (const table of ['tcp', 'tcp6']) {
      const text = await readFile(`/proc/${this.pid}/net/${table}`, 'utf8').catch(() => '');
      if (listensIn(text, port)) return true;
    }
    return false;
  }

  async close(): Promise<void> {
    if (this.pasta.exitCode !== null || this.pasta.signalCode !== null) return;
    this.pasta.kill('SIGTERM');
    const timer = setTimeout(() => this.pasta.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Whether a /proc/net/tcp{,6} table has a socket in LISTEN state (0A) on `port`. */
export function listensIn(table: string, port: number): boolean {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  return table
    .split('\n')
    .slice(1)
    .some((line) => {
      const fields = line.trim().split(/\s+/);
      return fields[1]?.endsWith(`:${hexPort}`) && fields[3] === '0A';
    });
}

/**
 * A sentence for the start-up output when content in its own namespace would have no DNS: every
 * name server in the host's resolv.conf is on the host's loopback (systemd-resolved's 127.0.0.53,
 * a local dnsmasq), which the namespace cannot reach. Null when DNS works or is not configured.
 */
export function dnsProblem(resolvConf: string): string | null {
  const servers = resolvConf
    .split('\n')
    .map((line) => /^\s*nameserver\s+(\S+)/.exec(line)?.[1])
    .filter((s): s is string => !!s);
  if (!servers.length || !servers.every((s) => s.startsWith('127.') || s === '::1')) return null;
  return (
    `Content will have no DNS: /etc/resolv.conf names only ${servers.join(', ')}, on the host's loopback, which content's network namespace cannot reach. ` +
    'Point /etc/resolv.conf at the upstream servers (with systemd-resolved: ln -sf /run/systemd/resolve/resolv.conf /etc/resolv.conf), or set [Applications] NetworkIsolation = false.'
  );
}

function sleep(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}

// The test bed's image registry: `crane registry serve` (go-containerregistry's registry) on the
// network namespace's loopback, which the node's containerd pulls from over plain HTTP. Every image the
// tests run is pushed here first, so each pod start is a real pull of a real image.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface Registry {
  /** `127.0.0.1:<port>` */
  address: string;
  /**
   * Pushes an OCI image layout directory as `<address>/<repository:tag>`; returns its digest. With
   * `siteCa`, adds the machine's certificate authorities on top (see addSiteCa).
   */
  pushLayout(layout: string, reference: string, options?: { siteCa?: boolean }): Promise<string>;
  stop(): Promise<void>;
}

export async function startRegistry(bin: string, dir: string, port: number): Promise<Registry> {
  await mkdir(dir, { recursive: true });
  const crane = path.join(bin, 'crane');
  const address = `127.0.0.1:${port}`;
  const child: ChildProcess = spawn(crane, ['registry', 'serve', '--address', address, '--disk', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`crane registry serve exited (${child.exitCode}): ${log.trim()}`);
    try {
      if ((await fetch(`http://${address}/v2/`)).ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error(`the registry did not answer /v2/ on ${address} within 15 s: ${log.trim()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const craneCmd = async (...args: string[]) => (await execFileAsync(crane, args, { maxBuffer: 16 << 20 })).stdout.trim();
  return {
    address,
    async pushLayout(layout, reference, pushOptions = {}) {
      const target = `${address}/${reference}`;
      await craneCmd('push', '--insecure', layout, target);
      if (pushOptions.siteCa) await addSiteCa(crane, target, dir);
      return craneCmd('digest', '--insecure', target);
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
    },
  };
}

/** The CA bundle of this machine, which trusts the TLS-inspecting proxy its outbound traffic passes. */
const HOST_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/**
 * This machine's outbound HTTPS goes through a TLS-inspecting proxy whose certificate authority only
 * the host trusts, so pods restoring packages from PyPI would fail certificate checks. As an
 * organisation behind such a proxy adds its CA to its images, this adds the host's bundle as a layer of
 * the test bed's copy of an image, and points pip, requests and uv at it.
 */
async function addSiteCa(crane: string, target: string, workDir: string): Promise<void> {
  const root = path.join(workDir, 'site-ca', 'root');
  await mkdir(path.join(root, 'etc/ssl/certs'), { recursive: true });
  await writeFile(path.join(root, 'etc/ssl/certs/ca-certificates.crt'), await readFile(HOST_CA_BUNDLE));
  const layer = path.join(workDir, 'site-ca', 'layer.tar');
  await execFileAsync('tar', ['-C', root, '--owner=0', '--group=0', '--mode=a+rX', '-cf', layer, 'etc']);
  await execFileAsync(crane, ['append', '--insecure', '-b', target, '-f', layer, '-t', target]);
  const env = ['SSL_CERT_FILE', 'PIP_CERT', 'REQUESTS_CA_BUNDLE'].flatMap((k) => ['--env', `${k}=/etc/ssl/certs/ca-certificates.crt`]);
  await execFileAsync(crane, ['mutate', '--insecure', ...env, target]);
}

/** The images scripts/deps/kube-images.sh built: `<reference>\t<OCI layout dir>\t<digest>` lines. */
export async function builtImages(indexFile: string): Promise<Array<{ reference: string; layout: string }>> {
  if (!existsSync(indexFile)) return [];
  return (await readFile(indexFile, 'utf8'))
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'))
    .map((l) => {
      const [reference, layout] = l.split('\t');
      return { reference: reference!, layout: layout! };
    });
}

export async function writeJson(file: string, value: unknown): Promise<void> {
  await writeFile(file, `${JSON.stringify(value, null, 2)}\n`);
}

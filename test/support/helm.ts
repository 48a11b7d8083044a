import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';

// Runs the Helm that scripts/deps/helm.sh builds (test/helm/go.mod pins it) against deploy/helm/lectern.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CHART = path.join(ROOT, 'deploy', 'helm', 'lectern');
const run = promisify(execFile);

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

export function helmBinDir(): string {
  return process.env.LECTERN_HELM_BIN ?? path.join(os.homedir(), '.cache', 'lectern-tests', 'helm', 'bin');
}

/** Builds helm when missing or stale (`bash scripts/deps/helm.sh`; well under a second when cached). */
export async function ensureHelm(): Promise<string> {
  const bin = helmBinDir();
  const child = spawn('bash', [path.join(ROOT, 'scripts', 'deps', 'helm.sh')], { env: { ...process.env, LECTERN_HELM_BIN: bin }, stdio: ['ignore', 2, 2] });
  const code = await new Promise<number | string>((resolve) => {
    child.once('error', (err) => resolve(err.message));
    child.once('exit', (c, signal) => resolve(c ?? signal ?? 'unknown'));
  });
  if (code !== 0) throw new Error(`bash scripts/deps/helm.sh failed (${code}); its output is above`);
  return path.join(bin, 'helm');
}

export class HelmFailure extends Error {
  constructor(readonly stderr: string) {
    super(stderr.trim());
  }
}

/** `helm <args>` with `values` in a values file; resolves stdout, rejects with HelmFailure(stderr). */
export async function helm(args: string[], values: Record<string, unknown> = {}): Promise<string> {
  const helmPath = await ensureHelm();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lectern-helm-'));
  try {
    const file = path.join(dir, 'values.yaml');
    await writeFile(file, JSON.stringify(values));
    // A private HOME for helm's cache and config, so tests neither read nor write the user's.
    const env = { ...process.env, HELM_CACHE_HOME: path.join(dir, 'cache'), HELM_CONFIG_HOME: path.join(dir, 'config'), HELM_DATA_HOME: path.join(dir, 'data') };
    const { stdout } = await run(helmPath, [...args, '--values', file], { env, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    if (e.stderr !== undefined) throw new HelmFailure(e.stderr);
    throw err;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The objects `helm template` renders for `values` (release "lectern" in `namespace`; deploy/helm/lectern unless `chart`). */
export async function renderChart(values: Record<string, unknown> = {}, namespace = 'lectern', release = 'lectern', chart = CHART): Promise<KubeObject[]> {
  const out = await helm(['template', release, chart, '--namespace', namespace], values);
  return parseAllDocuments(out)
    .map((doc) => {
      if (doc.errors.length) throw new Error(`helm template rendered invalid YAML: ${doc.errors[0]!.message}\n${out}`);
      return doc.toJS({ maxAliasCount: -1 }) as KubeObject | null;
    })
    .filter((o): o is KubeObject => o !== null);
}

export function find(objects: KubeObject[], kind: string, name?: string): KubeObject {
  const found = objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (!found) throw new Error(`no ${kind}${name ? ` ${name}` : ''} rendered (got ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')})`);
  return found;
}

import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** `latest`, `1.28` (the legacy flow), or a release of the version matrix (test/rsconnect-versions.txt). */
export type RsconnectVersion = 'latest' | '1.28' | `${number}.${number}.${number}`;

/** The repository root (this file is test/support/python.ts). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The releases between 1.29.0 and the newest that scripts/test-deps.sh installs (test/rsconnect-versions.txt). */
export function rsconnectMatrix(): RsconnectVersion[] {
  const lines = readFileSync(path.join(REPO_ROOT, 'test', 'rsconnect-versions.txt'), 'utf8').split('\n');
  return lines.map((l) => l.trim()).filter((l): l is `${number}.${number}.${number}` => /^\d+\.\d+\.\d+$/.test(l));
}

/** The rsconnect CLI from the virtualenv scripts/test-deps.sh makes; throws (never skips) when it is missing. */
export function rsconnectBin(which: RsconnectVersion): string {
  const bin = path.join(REPO_ROOT, '.cache', 'py', `rsconnect-${which}`, 'bin', 'rsconnect');
  if (!existsSync(bin)) {
    throw new Error(`rsconnect-python (${which}) is not installed at ${bin}: run \`bash scripts/test-deps.sh\` first.`);
  }
  return bin;
}

export interface RsconnectOptions {
  /** Extra environment, e.g. CONNECT_SERVER / CONNECT_API_KEY; HOME here overrides the fresh temp HOME. */
  env?: Record<string, string>;
  cwd?: string;
  /** Default 120 s; the process is killed and the promise rejects when exceeded. */
  timeoutMs?: number;
}

export interface RsconnectResult {
  /** Exit code; 128 + signal number if it died of a signal. */
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `rsconnect <args>` from the chosen virtualenv. rsconnect keeps its server list and deployment records
 * under HOME, so each call gets a fresh temp HOME (removed afterwards) unless opts.env.HOME is given.
 * CONNECT_* variables from this process's environment are not passed on: only those in opts.env.
 */
export async function runRsconnect(which: RsconnectVersion, args: string[], opts: RsconnectOptions = {}): Promise<RsconnectResult> {
  const bin = rsconnectBin(which);
  const ownHome = opts.env?.HOME ? null : await mkdtemp(path.join(os.tmpdir(), 'lectern-rsconnect-home-'));
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('CONNECT_') || k.startsWith('PYTHON') || k === 'XDG_CONFIG_HOME' || k === 'VIRTUAL_ENV') continue;
    env[k] = v;
  }
  Object.assign(env, { PYTHONUNBUFFERED: '1', NO_COLOR: '1' }, ownHome ? { HOME: ownHome } : {}, opts.env ?? {});
  const timeoutMs = opts.timeoutMs ?? 120_000;

  try {
    return await new Promise<RsconnectResult>((resolve, reject) => {
      const child = spawn(bin, args, { cwd: opts.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, timeoutMs);
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (timedOut) {
          reject(new Error(`rsconnect ${args.join(' ')} timed out after ${timeoutMs} ms\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`));
          return;
        }
        resolve({ code: code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0), stdout, stderr });
      });
    });
  } finally {
    if (ownHome) await rm(ownHome, { recursive: true, force: true });
  }
}

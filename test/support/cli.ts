import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The environment of a test process without its LECTERN_* variables (the test harness's own among them), plus `extra`. */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('LECTERN_')));
  return { ...env, ...extra };
}

function spawnCli(args: string[], env: NodeJS.ProcessEnv, wrapper: string[] = []): ChildProcess {
  // The CLI from source, as bin/lectern.js runs it from dist/.
  const command = [...wrapper, process.execPath, '--import', 'tsx', '-e', "import('./src/cli/main.ts').then((m) => m.main(process.argv.slice(1)))", ...args];
  return spawn(command[0]!, command.slice(1), {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `lectern ARGS` to its end; a command still running after `timeoutMs` is killed and reported. */
export async function runCli(args: string[], env: NodeJS.ProcessEnv, options: { timeoutMs?: number; wrapper?: string[] } = {}): Promise<CliResult> {
  const timeoutMs = options.timeoutMs ?? 90_000;
  const child = spawnCli(args, env, options.wrapper);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  if (timedOut) throw new Error(`lectern ${args.join(' ')} was still running after ${timeoutMs} ms:\n${stdout}${stderr}`);
  return { code, stdout, stderr };
}

export interface RunningCli {
  child: ChildProcess;
  output(): string;
  /** Resolves once the output contains `text`; fails if the process ends first or after `timeoutMs`. */
  waitFor(text: string, timeoutMs?: number): Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts a long-running `lectern ARGS` (start). */
export function startCli(args: string[], env: NodeJS.ProcessEnv): RunningCli {
  const child = spawnCli(args, env);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    output: () => output,
    async waitFor(text, timeoutMs = 90_000) {
      const deadline = Date.now() + timeoutMs;
      while (!output.includes(text)) {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`lectern ${args.join(' ')} ended before printing "${text}":\n${output}`);
        if (Date.now() > deadline) throw new Error(`lectern ${args.join(' ')} did not print "${text}" within ${timeoutMs} ms:\n${output}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        await exited;
      }
    },
  };
}

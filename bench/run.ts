// `npm run bench`: runs the benchmarks under bench/, one process each, in the order bench/RESULTS.md
// reports them, and keeps what each printed in bench/out/<name>.txt for copying into RESULTS.md.
//   npm run bench                          every benchmark
//   npm run bench -- --list                their names, what each measures and needs
//   npm run bench -- foundation dashboard  only those
//   npm run bench -- execution:proxy,cold  parts of one (the parts the benchmark file takes as arguments)
// Benchmarks of the server as users run it (bin/lectern.js, dist/) build it first with `npm run build`.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT = path.join(ROOT, 'bench', 'out');

interface Benchmark {
  name: string;
  measures: string;
  /** Needs dist/ (the built server or dashboard), so `npm run build` runs first. */
  built: boolean;
  needs?: string;
  parts?: string[];
}

const BENCHMARKS: Benchmark[] = [
  { name: 'foundation', measures: 'content list latency with 1,000 items on SQLite, idle RSS, CPU of 100 idle long-polls', built: true },
  {
    name: 'execution',
    measures: 'proxy throughput against the worker direct, cold starts, unchanged redeploy, uv vs pip restore',
    built: true,
    needs: 'Python and uv from scripts/test-deps.sh',
    parts: ['proxy', 'cold', 'redeploy', 'restore'],
  },
  { name: 'instrumentation', measures: 'CPU of recording one proxied request, and of writing usage records in batches (SQLite; PostgreSQL with LECTERN_BENCH_POSTGRES_URL)', built: false },
  { name: 'kubernetes', measures: 'cold start of a worker through the Kubernetes launcher, API requests per start', built: false, needs: 'the Kubernetes test bed from scripts/deps/kube-testbed.sh' },
  { name: 'kubernetes-phases', measures: 'off-host cold start by phase, warm pool, the init copy, redeploy with an unchanged environment', built: false, needs: 'the Kubernetes test bed' },
  { name: 'dashboard', measures: 'initial JavaScript (gzipped) and time to an interactive list of 1,000 items in Chromium', built: true, needs: 'Chromium from scripts/test-deps.sh' },
];

function usage(): never {
  console.error(`usage: npm run bench -- [--list] [name[:part,...] ...]; names: ${BENCHMARKS.map((b) => b.name).join(', ')}`);
  process.exit(2);
}

/** The benchmarks the arguments name, each with the parts to pass on (none: all of it). */
function selection(args: string[]): Array<{ benchmark: Benchmark; parts: string[] }> {
  if (args.length === 0) return BENCHMARKS.map((benchmark) => ({ benchmark, parts: [] }));
  return args.map((arg) => {
    const [name, partList] = arg.split(':', 2);
    const benchmark = BENCHMARKS.find((b) => b.name === name);
    if (!benchmark) {
      console.error(`no benchmark named ${name}`);
      usage();
    }
    const parts = partList ? partList.split(',').filter(Boolean) : [];
    const unknown = parts.filter((p) => !benchmark.parts?.includes(p));
    if (unknown.length > 0) {
      console.error(`${benchmark.name} has no part ${unknown.join(', ')}${benchmark.parts ? ` (parts: ${benchmark.parts.join(', ')})` : ''}`);
      usage();
    }
    return { benchmark, parts };
  });
}

/** Runs a command with this process's output, and its stdout copied into `log` when given; resolves to its exit code. */
function run(command: string, args: string[], log?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', log ? 'pipe' : 'inherit', 'inherit'] });
    if (log) {
      const file = createWriteStream(log);
      child.stdout!.on('data', (chunk: Buffer) => {
        process.stdout.write(chunk);
        file.write(chunk);
      });
      child.once('close', () => file.end());
    }
    child.once('error', reject);
    child.once('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

async function main(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) usage();
  if (args.includes('--list')) {
    for (const b of BENCHMARKS) {
      const notes = [b.built ? 'builds dist/ first' : '', b.needs ? `needs ${b.needs}` : '', b.parts ? `parts: ${b.parts.join(', ')}` : ''].filter(Boolean);
      console.log(`${b.name.padEnd(18)} ${b.measures}${notes.length ? ` (${notes.join('; ')})` : ''}`);
    }
    return 0;
  }
  const chosen = selection(args);
  if (chosen.some((c) => c.benchmark.built)) {
    console.log('› npm run build (the benchmarks measure the built server)');
    const code = await run('npm', ['run', '--silent', 'build']);
    if (code !== 0) return code;
  }
  await mkdir(OUT, { recursive: true });
  const failed: string[] = [];
  for (const { benchmark, parts } of chosen) {
    const log = path.join(OUT, `${benchmark.name}.txt`);
    console.log(`› ${benchmark.name}${parts.length ? ` ${parts.join(' ')}` : ''} (output also in ${path.relative(ROOT, log)})`);
    const code = await run(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench', `${benchmark.name}.ts`), ...parts], log);
    if (code !== 0) failed.push(`${benchmark.name} (exit ${code})`);
  }
  if (failed.length > 0) console.error(`failed: ${failed.join(', ')}`);
  return failed.length > 0 ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));

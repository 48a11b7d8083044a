import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { executionSettings, QUARTO_MISSING, testQuarto } from '../support/execution.js';
import { parseJunit, type JunitCase } from '../support/junit.js';
import { PROVIDERS, startLectern, stopPostgres } from '../support/lectern.js';

// posit-sdk-py's own integration tests (the integration/ folder of its source distribution), run
// unchanged against a fresh Lectern with an administrator's key, as its Makefile runs them against
// a fresh Connect. scripts/deps/posit-sdk.sh fetches the pinned release and makes the virtualenv.

after(stopPostgres);

const SDK_VERSION = '0.17.0';
const CACHE = path.join(process.env.LECTERN_TEST_CACHE ?? path.join(os.homedir(), '.cache', 'lectern-tests'), 'posit-sdk', SDK_VERSION);
const HINT = 'run `bash scripts/test-deps.sh` (or scripts/deps/posit-sdk.sh)';

/**
 * Tests that deploy the SDK's Quarto bundle (example-quarto-minimal), which needs Quarto on the
 * server: no package registry this project reaches ships it (PyPI's quarto-cli downloads it from
 * GitHub at build time; Debian has none). Named one by one (pytest node ids, from the sdist's root,
 * where its pyproject.toml puts pytest's rootdir), so any other failure
 * fails the check. Without Quarto they are deselected rather than run to fail: test_render stops
 * before deleting the item it created, and every later class that counts content (or creates one
 * with the same name) would then fail too. Where Quarto is installed they run, and must pass.
 */
const NEEDS_QUARTO: Record<string, string> = {
  'integration/tests/posit/connect/test_content.py::TestContent::test_render': 'deploys and renders example-quarto-minimal',
  'integration/tests/posit/connect/test_jobs.py::TestJobs::test': 'deploys example-quarto-minimal to get a job',
  'integration/tests/posit/connect/test_jobs.py::TestJobs::test_find_by': 'deploys example-quarto-minimal to get a job',
  'integration/tests/posit/connect/test_schedules.py::TestSchedules::test_lifecycle': 'schedules the deployed example-quarto-minimal',
  'integration/tests/posit/connect/test_schedules.py::TestSchedules::test_every_schedule_type': 'schedules the deployed example-quarto-minimal',
};

/** The Python 3.12 the deps script found (the SDK's flask bundle asks for 3.12); fails, never skips, when none was. */
function python312(): string {
  const file = path.join(CACHE, 'python312');
  if (!existsSync(file)) throw new Error(`no Python 3.12 was found by scripts/deps/posit-sdk.sh (${file} is missing): install one (pyenv, /opt/python/3.12, python3.12) and ${HINT}`);
  const python = readFileSync(file, 'utf8').trim();
  if (!existsSync(python)) throw new Error(`${file} names ${python}, which no longer exists: ${HINT}`);
  return python;
}

function pytest(args: string[], env: Record<string, string>, cwd: string, timeoutMs: number): Promise<{ code: number | null; output: string }> {
  const python = path.join(CACHE, 'venv', 'bin', 'python');
  if (!existsSync(path.join(CACHE, 'ready'))) throw new Error(`posit-sdk ${SDK_VERSION} and its virtualenv are not in ${CACHE}: ${HINT}`);
  const childEnv: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CONNECT_') && !k.startsWith('PYTHON') && k !== 'VIRTUAL_ENV') childEnv[k] = v;
  Object.assign(childEnv, { PYTHONUNBUFFERED: '1', NO_COLOR: '1' }, env);
  return new Promise((resolve, reject) => {
    const child = spawn(python, ['-m', 'pytest', ...args], { cwd, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`pytest did not finish within ${timeoutMs / 1000} s; its output so far:\n${output.slice(-20_000)}`));
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** One test that did not pass: pytest's message, where it failed, and its `E` lines (what was asserted or raised). */
function describeFailure(c: JunitCase): string {
  const lines = c.detail.split('\n');
  const errors = lines.filter((l) => /^E\s/.test(l.trim()) || /^E$/.test(l.trim())).slice(0, 12);
  const where = lines.filter((l) => /^\S+\.py:\d+:/.test(l.trim())).slice(-1);
  return [`${c.id} (${c.outcome}): ${c.message}`, ...where, ...errors].join('\n    ');
}

for (const provider of PROVIDERS) {
  describe(`posit-sdk ${SDK_VERSION}'s integration tests against Lectern (${provider})`, () => {
    test('every test passes, except those that need Quarto', { timeout: 30 * 60_000 }, async (ctx) => {
      const quarto = testQuarto();
      const settings = { ...executionSettings({ quarto: true }), 'Python.Executable': python312() };
      const t = await startLectern(provider, settings);
      const reports = await mkdtemp(path.join(os.tmpdir(), 'lectern-posit-sdk-'));
      try {
        const deselect: string[] = [];
        if (!quarto) {
          for (const [id, reason] of Object.entries(NEEDS_QUARTO)) {
            deselect.push(`--deselect=${id}`);
            ctx.diagnostic(`not run: ${id} (it ${reason}): ${QUARTO_MISSING}`);
          }
        }
        const junit = path.join(reports, 'junit.xml');
        const run = await pytest(
          ['tests', '-p', 'no:cacheprovider', '--tb=short', `--junitxml=${junit}`, '-o', 'junit_family=xunit2', ...deselect],
          { CONNECT_SERVER: t.url, CONNECT_API_KEY: t.adminKey },
          path.join(CACHE, 'src', 'integration'),
          25 * 60_000,
        );
        assert.ok(existsSync(junit), `pytest wrote no report (exit ${run.code}):\n${run.output.slice(-20_000)}`);
        const cases = parseJunit(await readFile(junit, 'utf8'));
        assert.ok(cases.length > 50, `the report lists only ${cases.length} tests:\n${run.output.slice(-20_000)}`);

        // pytest ignores a --deselect that names no test: check that each one took.
        const junitId = (nodeId: string) =>
          nodeId
            .replace(/\.py::/, '::')
            .replaceAll('/', '.')
            .replaceAll('::', '.');
        const ran = new Set(cases.map((c) => c.id));
        if (!quarto) for (const id of Object.keys(NEEDS_QUARTO)) assert.ok(!ran.has(junitId(id)), `${id} ran although deselected: its node id is out of date`);

        const failed = cases.filter((c) => c.outcome !== 'passed');
        assert.equal(
          failed.length,
          0,
          `${failed.length} of ${cases.length} posit-sdk tests did not pass (a skipped one counts: it is a version gate Lectern does not meet):\n\n${failed.map(describeFailure).join('\n\n')}`,
        );
      } finally {
        await t.stop();
        await rm(reports, { recursive: true, force: true });
      }
    });
  });
}

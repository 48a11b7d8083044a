import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SettingKey } from '../../src/config/settings.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const TOOLS = path.join(ROOT, '.cache', 'py', 'tools', 'bin');

/**
 * Package downloads shared by every test restore. It lives outside the checkout (CI runs in a fresh
 * clone each time), so a machine downloads each wheel once; LECTERN_TEST_PACKAGE_CACHE moves it.
 */
export const PACKAGE_CACHE = process.env.LECTERN_TEST_PACKAGE_CACHE ?? path.join(os.homedir(), '.cache', 'lectern-tests', 'packages');

function required(file: string, hint: string): string {
  if (!existsSync(file)) throw new Error(`${file} is missing: ${hint}`);
  return file;
}

/** The interpreter content runs on in tests: the python3 the test-deps script created venvs with. */
export function testPython(): string {
  return execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
}

/**
 * Quarto for the tests: LECTERN_TEST_QUARTO, else `quarto` on PATH. It cannot be installed on the
 * project's own machines (PyPI's quarto-cli is a source package that downloads Quarto from GitHub;
 * Debian has none), so Quarto tests report themselves skipped, with this reason, when it is absent.
 */
export function testQuarto(): string | undefined {
  if (process.env.LECTERN_TEST_QUARTO) return required(process.env.LECTERN_TEST_QUARTO, 'LECTERN_TEST_QUARTO names a missing file');
  try {
    return execFileSync('sh', ['-c', 'command -v quarto'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

export const QUARTO_MISSING = 'Quarto is not installed (PyPI quarto-cli only builds by downloading from GitHub, unreachable here; Debian has no package): set LECTERN_TEST_QUARTO to run this test';

/**
 * Settings that let a test Lectern run real content: interpreters, uv, Quarto, the persistent
 * package cache (so repeated runs do not download again).
 */
export function executionSettings(options: { r?: boolean; quarto?: boolean } = {}): Partial<Record<SettingKey, string>> {
  const hint = 'run scripts/test-deps.sh (npm test does)';
  const settings: Partial<Record<SettingKey, string>> = {
    'Python.Executable': testPython(),
    'Python.UvExecutable': required(path.join(TOOLS, 'uv'), hint),
    'Python.PackageCacheDir': PACKAGE_CACHE,
    'Scheduler.InitTimeout': '90s',
  };
  if (options.quarto) {
    const quarto = testQuarto();
    if (quarto) settings['Quarto.Executable'] = quarto;
  }
  if (options.r) settings['R.Executable'] = required('/usr/bin/R', hint);
  return settings;
}

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import type { Manifest } from '../../src/bundles/manifest.js';
import { APP_MODE_TABLE, APP_MODES, appModeKind, lecternRuns, type AppModeSpec } from '../../src/content/app-modes.js';
import { runnerFor, servedByWorkers, UNSUPPORTED_MODES } from '../../src/execution/runners.js';
import { CONTENT_TYPES, contentTypeOf, modeLabel, RENDERED_MODES } from '../../dashboard/src/ui/app-modes.js';
import { PYTHON_APP_MODES_FILE, pythonAppModesJson } from '../../scripts/generate-app-modes.js';
import { ROOT } from '../support/execution.js';

const spec = (mode: string): AppModeSpec => (APP_MODE_TABLE as Record<string, AppModeSpec>)[mode]!;

// The app-mode table is declared once (src/content/app-modes.ts); everything else reads it.
describe('the one app-mode table', () => {
  test("the Python runtime's copy is generated from it and current", () => {
    assert.equal(readFileSync(PYTHON_APP_MODES_FILE, 'utf8'), pythonAppModesJson(), 'runtime/python/app_modes.json is stale: run node --import tsx scripts/generate-app-modes.ts');
    for (const mode of APP_MODES) {
      const runner = spec(mode).python?.runner;
      if (runner) assert.ok(existsSync(path.join(ROOT, 'runtime', 'python', 'lectern_runtime', `${runner}.py`)), `${mode}: runtime/python/lectern_runtime/${runner}.py`);
    }
  });

  test('nodejs and tensorflow-saved-model are modes clients send that Lectern does not run', () => {
    assert.deepEqual([...UNSUPPORTED_MODES].sort(), ['nodejs', 'tensorflow-saved-model']);
    for (const mode of UNSUPPORTED_MODES) {
      assert.equal(lecternRuns(mode), false, mode);
      assert.equal(servedByWorkers(mode), false, mode);
      assert.equal(runnerFor({ appMode: mode } as Manifest), undefined, mode);
      assert.equal(contentTypeOf(mode), undefined, `${mode} is no filter of the content list: no content can have it`);
    }
    assert.equal(lecternRuns('nodejs-api'), false, 'the client alias too');
  });

  test('how the server runs each mode agrees with its kind', () => {
    for (const mode of APP_MODES.filter((m) => m !== 'unknown' && lecternRuns(m))) {
      const runner = runnerFor({ appMode: mode } as Manifest);
      const expected = { static: 'static', rendered: 'render', interactive: 'run' }[appModeKind(mode) as 'static' | 'rendered' | 'interactive'];
      assert.equal(runner?.serve, expected, mode);
      assert.equal(servedByWorkers(mode), expected === 'run', mode);
      // Python modes are the ones the Python runtime knows, and the other way round.
      assert.equal(spec(mode).python?.runner !== undefined, runner?.script === 'python/lectern_run.py', mode);
    }
  });

  test('the dashboard names and groups every deployable mode from the table', () => {
    for (const mode of APP_MODES.filter((m) => m !== 'unknown' && lecternRuns(m))) {
      assert.equal(modeLabel(mode), spec(mode).label);
      assert.ok(contentTypeOf(mode), `${mode} belongs to a content-list group`);
    }
    assert.deepEqual(RENDERED_MODES, ['rmd-static', 'jupyter-static', 'quarto-static']);
    assert.deepEqual(CONTENT_TYPES.find((t) => t.id === 'site')?.modes, ['static']);
    assert.equal(modeLabel('unknown'), 'Not deployed');
    assert.equal(modeLabel('cobol'), 'cobol');
  });
});

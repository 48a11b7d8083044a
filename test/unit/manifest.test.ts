import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ManifestError, parseManifest, primaryDocument } from '../../src/bundles/manifest.js';
import { APP_MODES, appModeFromOrdinal, appModeKind, appModeOrdinal, isAppMode, normalizeAppMode } from '../../src/content/app-modes.js';

const parse = (value: unknown) => parseManifest(JSON.stringify(value));

function assertReason(value: unknown, reason: string | RegExp) {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  assert.throws(
    () => parseManifest(text),
    (err: unknown) => {
      assert.ok(err instanceof ManifestError, `expected a ManifestError, got ${String(err)}`);
      if (typeof reason === 'string') assert.equal(err.reason, reason);
      else assert.match(err.reason, reason);
      assert.equal(err.message, err.reason);
      return true;
    },
  );
}

describe('parseManifest', () => {
  test('reads an rsconnect-python manifest', () => {
    const m = parse({
      version: 1,
      locale: 'en_US.UTF-8',
      metadata: { appmode: 'python-fastapi', entrypoint: 'app:app' },
      python: { version: '3.11.4', package_manager: { name: 'uv', version: '0.5.1', package_file: 'requirements.txt', allow_uv: true } },
      environment: { image: 'ghcr.io/x/py:3.11', environment_management: { python: false }, python: { requires: '>=3.10' } },
      files: { 'requirements.txt': { checksum: 'a' }, 'app.py': { checksum: 'b' } },
    });
    assert.equal(m.version, 1);
    assert.equal(m.locale, 'en_US.UTF-8');
    assert.equal(m.appMode, 'python-fastapi');
    assert.equal(m.entrypoint, 'app:app');
    assert.deepEqual(m.python, { version: '3.11.4', packageManager: { name: 'uv', version: '0.5.1', packageFile: 'requirements.txt', allowUv: true } });
    assert.deepEqual(m.environment, { image: 'ghcr.io/x/py:3.11', environmentManagement: { python: false, r: undefined }, pythonRequires: '>=3.10', rRequires: undefined });
    assert.equal(m.r, undefined);
    assert.equal(m.quarto, undefined);
    assert.equal(m.contentCategory, '');
    assert.equal(m.hasParameters, false);
    assert.deepEqual(m.jupyter, { hideAllInput: false, hideTaggedInput: false });
    assert.equal(m.packages, null);
    assert.deepEqual(m.files, ['requirements.txt', 'app.py']);
  });

  test('reads an R manifest: nulls, ./ prefixes, packages, platform as the R version', () => {
    const packages = { shiny: { Source: 'CRAN', Repository: 'https://cran.rstudio.com', description: { Package: 'shiny', Version: '1.8.0' } } };
    const m = parse({
      version: 1,
      locale: 'en_US',
      platform: '4.3.0',
      metadata: { appmode: 'rmd-static', primary_rmd: 'report.Rmd', primary_html: null, content_category: null, has_parameters: true },
      python: null,
      quarto: null,
      jupyter: null,
      packages,
      files: { './report.Rmd': { checksum: 'a' }, './data/x.csv': { checksum: 'b' } },
      users: null,
      environment: { r: { requires: '>=4.1', package_repository_resolution: 'lax' }, environment_management: null, image: null },
    });
    assert.equal(m.appMode, 'rmd-static');
    assert.equal(m.platform, '4.3.0');
    assert.deepEqual(m.r, { version: '4.3.0' });
    assert.equal(m.primaryRmd, 'report.Rmd');
    assert.equal(m.primaryHtml, undefined);
    assert.equal(m.hasParameters, true);
    assert.equal(m.python, undefined);
    assert.deepEqual(m.packages, packages);
    assert.deepEqual(m.files, ['report.Rmd', 'data/x.csv']);
    assert.equal(m.environment.rRequires, '>=4.1');
    assert.equal(m.environment.image, undefined);
  });

  test('tolerates a missing or null files map, missing version and unknown keys (kept in raw)', () => {
    const missing = parse({ metadata: { appmode: 'static' } });
    assert.deepEqual(missing.files, []);
    assert.equal(missing.version, 1);
    const nulls = parse({ version: 1, metadata: { appmode: 'static', entrypoint: null }, files: null, node: { version: '20' }, future_key: [1, 2] });
    assert.deepEqual(nulls.files, []);
    assert.equal(nulls.entrypoint, undefined);
    assert.deepEqual(nulls.raw.future_key, [1, 2]);
    assert.deepEqual(nulls.raw.node, { version: '20' });
    assert.deepEqual(parse({ metadata: { appmode: 'static' }, files: {} }).files, []);
  });

  test('reads quarto and jupyter details, and a byte-order mark is tolerated', () => {
    const m = parseManifest(
      '\uFEFF' +
        JSON.stringify({
          version: 1,
          metadata: { appmode: 'quarto-static', entrypoint: 'doc.qmd', content_category: 'site' },
          quarto: { version: '1.4.550', engines: ['jupyter'] },
          jupyter: { hide_all_input: true, hide_tagged_input: null },
        }),
    );
    assert.deepEqual(m.quarto, { version: '1.4.550', engines: ['jupyter'] });
    assert.deepEqual(m.jupyter, { hideAllInput: true, hideTaggedInput: false });
    assert.equal(m.contentCategory, 'site');
    assert.deepEqual(parse({ metadata: { appmode: 'quarto-static' }, quarto: { version: '1.4', engines: null } }).quarto, { version: '1.4', engines: [] });
  });

  test('accepts the nodejs-api alias', () => {
    assert.equal(parse({ metadata: { appmode: 'nodejs-api', entrypoint: 'index.js' } }).appMode, 'nodejs');
  });

  test('refuses text that is not a JSON object', () => {
    assertReason('{"version": 1,', /^manifest\.json is not valid JSON: .+/);
    assertReason('', /^manifest\.json is not valid JSON: /);
    assertReason('[1]', 'manifest.json must contain a JSON object, not a list');
    assertReason('null', 'manifest.json must contain a JSON object, not null');
  });

  test('refuses a missing, unknown or mistyped app mode', () => {
    assertReason({ version: 1 }, 'manifest.json: metadata is missing');
    assertReason({ metadata: null }, 'manifest.json: metadata is missing');
    assertReason({ metadata: 'static' }, 'manifest.json: metadata must be an object, not the string "static"');
    assertReason({ metadata: {} }, 'manifest.json: metadata.appmode is missing');
    assertReason({ metadata: { appmode: '' } }, 'manifest.json: metadata.appmode is missing');
    assertReason({ metadata: { appmode: 'foo' } }, "manifest.json: metadata.appmode 'foo' is not a known app mode");
    assertReason({ metadata: { appmode: 'python-flask' } }, "manifest.json: metadata.appmode 'python-flask' is not a known app mode");
    assertReason({ metadata: { appmode: 'unknown' } }, "manifest.json: metadata.appmode 'unknown' cannot be deployed");
    assertReason({ metadata: { appmode: 4 } }, 'manifest.json: metadata.appmode must be a string, not the number 4');
  });

  test('names the field that has the wrong type', () => {
    const base = { metadata: { appmode: 'python-api' } };
    assertReason({ ...base, files: [] }, 'manifest.json: files must be an object, not a list');
    assertReason({ ...base, files: 'app.py' }, 'manifest.json: files must be an object, not the string "app.py"');
    assertReason({ ...base, version: '1' }, 'manifest.json: version must be an integer, not the string "1"');
    assertReason({ ...base, locale: 5 }, 'manifest.json: locale must be a string, not the number 5');
    assertReason({ ...base, platform: 4.3 }, 'manifest.json: platform must be a string, not the number 4.3');
    assertReason({ metadata: { appmode: 'static', entrypoint: 1 } }, 'manifest.json: metadata.entrypoint must be a string, not the number 1');
    assertReason({ metadata: { appmode: 'static', has_parameters: 'yes' } }, 'manifest.json: metadata.has_parameters must be true or false, not the string "yes"');
    assertReason({ ...base, python: { version: 3.11 } }, 'manifest.json: python.version must be a string, not the number 3.11');
    assertReason({ ...base, python: { package_manager: [] } }, 'manifest.json: python.package_manager must be an object, not a list');
    assertReason({ ...base, python: { package_manager: { name: 'pip', allow_uv: 'no' } } }, 'manifest.json: python.package_manager.allow_uv must be true or false, not the string "no"');
    assertReason({ ...base, quarto: { engines: 'knitr' } }, 'manifest.json: quarto.engines must be a list of strings, not the string "knitr"');
    assertReason({ ...base, quarto: { engines: ['knitr', 2] } }, 'manifest.json: quarto.engines[1] must be a string, not the number 2');
    assertReason({ ...base, environment: { environment_management: { python: 'false' } } }, 'manifest.json: environment.environment_management.python must be true or false, not the string "false"');
    assertReason({ ...base, environment: { python: { requires: 3 } } }, 'manifest.json: environment.python.requires must be a string, not the number 3');
    assertReason({ ...base, packages: [] }, 'manifest.json: packages must be an object, not a list');
  });
});

describe('primaryDocument', () => {
  const doc = (m: { primaryHtml?: string; entrypoint?: string }, files: string[]) => primaryDocument(m, files);

  test('prefers primary_html, then an HTML entrypoint', () => {
    assert.equal(doc({ primaryHtml: 'report.html', entrypoint: 'other.html' }, ['index.html']), 'report.html');
    assert.equal(doc({ primaryHtml: './plot.png' }, []), 'plot.png');
    assert.equal(doc({ entrypoint: 'notebook.htm' }, ['index.html']), 'notebook.htm');
  });

  test('falls back to index.html/index.htm, then the only HTML file', () => {
    assert.equal(doc({ entrypoint: 'app.py' }, ['a.html', 'index.html']), 'index.html');
    assert.equal(doc({}, ['a.html', 'index.htm']), 'index.htm');
    assert.equal(doc({}, ['style.css', 'report.HTML']), 'report.HTML');
    assert.equal(doc({}, ['a.html', 'b.html']), null);
    assert.equal(doc({}, ['data.csv']), null);
  });
});

describe('app modes', () => {
  test('ordinals follow the v0 table, 19 is unassigned', () => {
    assert.equal(APP_MODES.length, 20);
    assert.equal(appModeOrdinal('unknown'), 0);
    assert.equal(appModeOrdinal('shiny'), 1);
    assert.equal(appModeOrdinal('static'), 4);
    assert.equal(appModeOrdinal('python-panel'), 18);
    assert.equal(appModeOrdinal('nodejs'), 20);
    assert.equal(appModeOrdinal('nodejs-api'), 20);
    assert.equal(appModeOrdinal('not-a-mode'), 0);
    for (const mode of APP_MODES) assert.equal(appModeFromOrdinal(appModeOrdinal(mode)), mode);
    assert.equal(appModeFromOrdinal(19), undefined);
  });

  test('kinds, aliases and membership', () => {
    assert.equal(appModeKind('static'), 'static');
    for (const mode of ['rmd-static', 'jupyter-static', 'quarto-static']) assert.equal(appModeKind(mode), 'rendered');
    for (const mode of ['api', 'jupyter-voila', 'python-dash', 'python-fastapi', 'quarto-shiny', 'rmd-shiny', 'shiny', 'tensorflow-saved-model', 'nodejs']) {
      assert.equal(appModeKind(mode), 'interactive', mode);
    }
    assert.equal(appModeKind('unknown'), 'unknown');
    assert.equal(appModeKind('cobol'), 'unknown');
    assert.equal(normalizeAppMode('nodejs-api'), 'nodejs');
    assert.equal(normalizeAppMode('shiny'), 'shiny');
    assert.equal(normalizeAppMode('toString'), undefined);
    assert.equal(isAppMode('python-gradio'), true);
    assert.equal(isAppMode('nodejs-api'), false);
    assert.equal(isAppMode(4), false);
  });
});

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startLectern, type TestServer } from '../support/lectern.js';
import { rsconnectBin, runRsconnect } from '../support/python.js';

// rsconnect-python 1.28.x (what scripts/test-deps.sh installs as `rsconnect-1.28`): key check via
// legacy `GET /__api__/me`, then the v1 create/bundle/deploy/tasks flow; a numeric --app-id makes
// it resolve the GUID through legacy `GET /__api__/applications/{id}`. (1.28.0 itself also used
// POST /applications, /applications/{id}/upload and /config; the API suite covers those.)

const HTML = '<!doctype html><html><head><link rel="stylesheet" href="style.css"></head><body><h1>Legacy site</h1></body></html>\n';
const CSS = 'h1 { color: rebeccapurple; }\n';

describe('rsconnect-python 1.28 deploy html (legacy-era client)', () => {
  let t: TestServer;
  let site: string;
  let home: string;

  before(async () => {
    rsconnectBin('1.28');
    t = await startLectern('sqlite');
    site = await mkdtemp(path.join(os.tmpdir(), 'lectern-legacy-site-'));
    home = await mkdtemp(path.join(os.tmpdir(), 'lectern-legacy-home-'));
    await writeFile(path.join(site, 'index.html'), HTML);
    await writeFile(path.join(site, 'style.css'), CSS);
  });

  after(async () => {
    await t?.stop();
    if (site) await rm(site, { recursive: true, force: true });
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('deploys a static site, serves it, and redeploys by numeric legacy id', async () => {
    const first = await runRsconnect('1.28', ['deploy', 'html', '-s', t.url, '-k', t.adminKey, '--title', 'Legacy Site', site], { env: { HOME: home } });
    const log = `${first.stdout}\n${first.stderr}`;
    assert.equal(first.code, 0, log);
    assert.match(log, /Deployment completed successfully/);
    const guid = /\/content\/([0-9a-f-]{36})\//.exec(log)?.[1];
    assert.ok(guid, `no content URL in output:\n${log}`);

    const page = await t.api(`/content/${guid}/`);
    assert.equal(page.status, 200);
    assert.equal(await page.text(), HTML);
    const css = await t.api(`/content/${guid}/style.css`);
    assert.equal(css.status, 200);
    assert.equal(await css.text(), CSS);

    const record = (await (await t.api(`/__api__/applications/${guid}`)).json()) as { id: number; title: string; build_status: number; app_mode: number; bundle_id: number };
    assert.equal(record.title, 'Legacy Site');
    assert.equal(record.build_status, 2);
    assert.equal(typeof record.id, 'number');

    // Redeploy naming the content by its integer id: the client looks it up via /__api__/applications/{id}.
    await writeFile(path.join(site, 'index.html'), HTML.replace('Legacy site', 'Legacy site v2'));
    const second = await runRsconnect('1.28', ['deploy', 'html', '-s', t.url, '-k', t.adminKey, '--app-id', String(record.id), site], { env: { HOME: home } });
    assert.equal(second.code, 0, `${second.stdout}\n${second.stderr}`);
    const again = await t.api(`/content/${guid}/`);
    assert.match(await again.text(), /Legacy site v2/);
    const after2 = (await (await t.api(`/__api__/applications/${record.id}`)).json()) as { bundle_id: number; guid: string };
    assert.equal(after2.guid, guid);
    assert.notEqual(after2.bundle_id, record.bundle_id);
  });
});

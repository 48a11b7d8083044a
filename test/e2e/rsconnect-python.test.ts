import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PROVIDERS, startLectern, stopPostgres, type TestServer } from '../support/lectern.js';
import { runRsconnect } from '../support/python.js';

after(stopPostgres);

// The newest rsconnect-python from PyPI publishes a static site, unchanged, on both databases.
for (const provider of PROVIDERS) {
  describe(`rsconnect-python (latest) deploys static content (${provider})`, () => {
    let t: TestServer;
    let site: string;
    let home: string;
    before(async () => {
      t = await startLectern(provider);
      site = await mkdtemp(path.join(os.tmpdir(), 'lectern-site-'));
      home = await mkdtemp(path.join(os.tmpdir(), 'lectern-home-'));
      await writeFile(path.join(site, 'index.html'), '<html><body><h1>Hello from rsconnect</h1><link rel="stylesheet" href="style.css"></body></html>');
      await writeFile(path.join(site, 'style.css'), 'h1 { color: teal }');
      await mkdir(path.join(site, 'img'));
      await writeFile(path.join(site, 'img', 'note.txt'), 'nested file');
    });
    after(async () => {
      await t.stop();
      await rm(site, { recursive: true, force: true });
      await rm(home, { recursive: true, force: true });
    });

    const rsconnect = (args: string[]) => runRsconnect('latest', args, { env: { HOME: home }, timeoutMs: 120_000 });

    async function contentByTitle(title: string) {
      const all = (await (await t.api('/__api__/v1/content')).json()) as Array<{ guid: string; title: string; bundle_id: string | null }>;
      return all.filter((c) => c.title === title);
    }

    test('deploy, then redeploy to the same content', async () => {
      const first = await rsconnect(['deploy', 'html', '-s', t.url, '-k', t.adminKey, '--title', 'Static Site', site]);
      assert.equal(first.code, 0, first.stdout + first.stderr);
      const [content] = await contentByTitle('Static Site');
      assert.ok(content?.bundle_id, 'content has an active bundle');
      const page = await t.api(`/content/${content.guid}/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /Hello from rsconnect/);
      assert.equal(await (await t.api(`/content/${content.guid}/img/note.txt`)).text(), 'nested file');

      await writeFile(path.join(site, 'index.html'), '<html><body><h1>Second version</h1></body></html>');
      const second = await rsconnect(['deploy', 'html', '-s', t.url, '-k', t.adminKey, '--title', 'Static Site', site]);
      assert.equal(second.code, 0, second.stdout + second.stderr);
      const again = await contentByTitle('Static Site');
      assert.equal(again.length, 1, 'redeploy reuses the same content');
      assert.notEqual(again[0]!.bundle_id, content.bundle_id);
      assert.match(await (await t.api(`/content/${content.guid}/`)).text(), /Second version/);
    });

    test('re-title on redeploy', async () => {
      const res = await rsconnect(['deploy', 'html', '-s', t.url, '-k', t.adminKey, '--title', 'Renamed Site', site]);
      assert.equal(res.code, 0, res.stdout + res.stderr);
      assert.equal((await contentByTitle('Renamed Site')).length, 1);
      assert.equal((await contentByTitle('Static Site')).length, 0);
    });

    test('draft deploy leaves the live version alone and serves the draft to the owner', async () => {
      const [content] = await contentByTitle('Renamed Site');
      const liveBefore = await (await t.api(`/content/${content!.guid}/`)).text();
      await writeFile(path.join(site, 'index.html'), '<html><body><h1>Draft version</h1></body></html>');
      const res = await rsconnect(['deploy', 'html', '-s', t.url, '-k', t.adminKey, '--title', 'Renamed Site', '--draft', site]);
      assert.equal(res.code, 0, res.stdout + res.stderr);
      assert.equal(await (await t.api(`/content/${content!.guid}/`)).text(), liveBefore);
      const bundles = (await (await t.api(`/__api__/v1/content/${content!.guid}/bundles`)).json()) as Array<{ id: string; active: boolean }>;
      const draft = bundles[0]!;
      assert.equal(draft.active, false);
      assert.match(await (await t.api(`/content/${content!.guid}/_bundle${draft.id}/`)).text(), /Draft version/);
      assert.match(res.stdout + res.stderr, new RegExp(`draft/${draft.id}`));
    });

    test('a wrong API key is reported as not valid', async () => {
      const res = await rsconnect(['deploy', 'html', '-s', t.url, '-k', 'wrong-key-0000', '--new', site]);
      assert.notEqual(res.code, 0);
      assert.match(res.stdout + res.stderr, /API key is not valid|Invalid login/i);
    });
  });
}

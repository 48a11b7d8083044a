import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PROVIDERS, startLectern, stopPostgres, type TestServer } from '../support/lectern.js';
import { runRsconnect } from '../support/python.js';

after(stopPostgres);

// The newest rsconnect-python provisions a fresh Lectern the way Connect's admin guide describes:
// a key file made with `head -c 32 /dev/random | base64`, `rsconnect bootstrap`, then the key it prints.
for (const provider of PROVIDERS) {
  describe(`rsconnect bootstrap provisions a fresh server (${provider})`, () => {
    let t: TestServer;
    let dir: string;
    let keyFile: string;
    before(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'lectern-rsconnect-bootstrap-'));
      keyFile = path.join(dir, 'secret.key');
      await writeFile(keyFile, execFileSync('bash', ['-c', 'head -c 32 /dev/random | base64']));
      await writeFile(path.join(dir, 'index.html'), '<html><body><h1>Provisioned</h1></body></html>');
      t = await startLectern(provider, { 'Bootstrap.Enabled': 'true', 'Bootstrap.SecretKeyFile': keyFile }, undefined, { firstRun: true });
    });
    after(async () => {
      await t.stop();
      await rm(dir, { recursive: true, force: true });
    });

    const rsconnect = (args: string[]) => runRsconnect('latest', args, { timeoutMs: 120_000 });

    test("bootstrap prints the first administrator's API key, which then deploys; a second bootstrap is refused", async () => {
      const first = await rsconnect(['bootstrap', '--server', t.url, '--jwt-keypath', keyFile]);
      assert.equal(first.code, 0, first.stdout + first.stderr);
      const output = JSON.parse(first.stdout) as { status: number; api_key: string; message: string };
      assert.equal(output.status, 200);
      assert.equal(output.message, 'Success.');
      assert.ok(output.api_key);

      const me = (await (await t.api('/__api__/v1/user', { key: output.api_key })).json()) as { user_role: string };
      assert.equal(me.user_role, 'administrator');
      const deploy = await rsconnect(['deploy', 'html', '-s', t.url, '-k', output.api_key, '--title', 'Provisioned Site', dir]);
      assert.equal(deploy.code, 0, deploy.stdout + deploy.stderr);
      const [content] = (await (await t.api('/__api__/v1/content', { key: output.api_key })).json()) as Array<{ guid: string; title: string }>;
      assert.equal(content?.title, 'Provisioned Site');
      assert.match(await (await t.api(`/content/${content!.guid}/`, { key: output.api_key })).text(), /Provisioned/);

      const second = await rsconnect(['bootstrap', '--server', t.url, '--jwt-keypath', keyFile]);
      assert.equal(second.code, 0, second.stdout + second.stderr);
      const refused = JSON.parse(second.stdout) as { status: number; api_key: string; message: string };
      assert.equal(refused.status, 403);
      assert.equal(refused.api_key, '');
      assert.match(refused.message, /Unable to provision initial admin/);
    });

    test('a token signed with another key is reported as a failed JWT authorization', async () => {
      const otherKey = path.join(dir, 'other.key');
      await writeFile(otherKey, execFileSync('bash', ['-c', 'head -c 32 /dev/random | base64']));
      const res = await rsconnect(['bootstrap', '--server', t.url, '--jwt-keypath', otherKey]);
      assert.equal(res.code, 0, res.stdout + res.stderr);
      const output = JSON.parse(res.stdout) as { status: number; message: string };
      assert.equal(output.status, 401);
      assert.equal(output.message, 'JWT authorization failed.');
    });
  });
}

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PROVIDERS, startLectern, stopPostgres, type TestServer } from '../support/lectern.js';
import { runRsconnect } from '../support/python.js';

after(stopPostgres);

// The newest rsconnect-python manages OAuth integrations with `rsconnect integration …`.
for (const provider of PROVIDERS) {
  describe(`rsconnect integration commands (${provider})`, () => {
    let t: TestServer;
    before(async () => {
      t = await startLectern(provider);
    });
    after(() => t.stop());

    const rsconnect = async (args: string[]) => {
      const res = await runRsconnect('latest', ['integration', ...args, '-s', t.url, '-k', t.adminKey], { timeoutMs: 120_000 });
      assert.equal(res.code, 0, res.stdout + res.stderr);
      return res.stdout;
    };

    test('templates, add, show, edit (the secret is kept), list and remove', async () => {
      assert.match(await rsconnect(['templates', 'list']), /^custom\s+Custom$/m);
      assert.equal(JSON.parse(await rsconnect(['templates', 'show', 'github'])).id, 'github');

      const created = JSON.parse(await rsconnect(['add', '-t', 'github', '-N', 'GitHub', '-d', 'for repositories', '-C', 'client_id=abc', '-C', 'client_secret=s3cret']));
      assert.equal(created.template, 'github');
      assert.deepEqual(created.config, { client_id: 'abc' });
      assert.equal(JSON.parse(await rsconnect(['show', created.guid])).name, 'GitHub');

      // edit reads the config (no secret in it), merges the change and sends it whole.
      const edited = JSON.parse(await rsconnect(['edit', '-C', 'scopes=repo', created.guid]));
      assert.deepEqual(edited.config, { client_id: 'abc', scopes: 'repo' });
      assert.equal((await t.app.oauthIntegrations.secretConfig(created.guid)).client_secret, 's3cret');

      assert.match(await rsconnect(['list']), new RegExp(`${created.guid}\\s+GitHub`));
      await rsconnect(['remove', created.guid]);
      assert.match(await rsconnect(['list']), /No integrations found/);
    });
  });
}

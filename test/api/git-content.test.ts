// Git-backed content against a real git server on loopback (git http-backend): the repository
// routes as posit-sdk and rsconnect-python call them, deploys from a branch, redeploys when the
// branch moves (within one poll interval), the errors a user sees, and `rsconnect deploy git`.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../support/eventually.js';
import { freePort } from '../support/free-port.js';
import { startGitServer, type GitServer } from '../support/git-server.js';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { postgresDatabaseUrl, PROVIDERS, startLectern, stopPostgres, waitForTask, type TestServer } from '../support/lectern.js';
import { runRsconnect } from '../support/python.js';
import { makeTarGz } from '../support/tarball.js';

const STATIC_MANIFEST = JSON.stringify({ version: 1, metadata: { appmode: 'static', primary_html: 'index.html' }, files: {} });

/** A static site in `directory` of a commit. */
const site = (html: string, directory = 'site') => ({ [`${directory}/manifest.json`]: STATIC_MANIFEST, [`${directory}/index.html`]: html });

async function json(res: Response) {
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  return res.json() as Promise<any>;
}

after(stopPostgres);

for (const provider of PROVIDERS) {
  describe(`git-backed content (${provider})`, () => {
    let t: TestServer;
    let gitServer: GitServer;
    before(async () => {
      gitServer = await startGitServer();
      t = await startLectern(provider, { 'Git.PollingFrequency': '1s', 'Tasks.PollInterval': '200ms' });
    });
    after(async () => {
      await t.stop();
      await gitServer.close();
    });

    async function createContent(name: string) {
      const res = await t.api('/__api__/v1/content', { method: 'POST', json: { name } });
      assert.equal(res.status, 200, await res.clone().text());
      return json(res);
    }

    const repositoryPath = (guid: string) => `/__api__/v1/content/${guid}/repository`;

    async function link(guid: string, body: Record<string, unknown>) {
      const res = await t.api(repositoryPath(guid), { method: 'PUT', json: body });
      assert.equal(res.status, 200, await res.clone().text());
      return json(res);
    }

    async function deployFromGit(guid: string) {
      const res = await t.api(`/__api__/v1/content/${guid}/deploy`, { method: 'POST', json: { bundle_id: null } });
      assert.equal(res.status, 202, await res.clone().text());
      return waitForTask(t, (await json(res)).task_id);
    }

    const page = async (guid: string) => {
      const res = await fetch(`${t.url}/content/${guid}/`, { headers: { authorization: `Key ${t.adminKey}` } });
      return res.status === 200 ? res.text() : `HTTP ${res.status}`;
    };

    test('server_settings says git is available', async () => {
      const body = await json(await t.api('/__api__/server_settings', { key: null }));
      assert.equal(body.git_enabled, true);
      assert.equal(body.git_available, true);
    });

    test('the repository record: none, create, read, update, delete (as posit-sdk calls it)', async () => {
      const content = await createContent('repository-record');
      const missing = await t.api(repositoryPath(content.guid));
      assert.equal(missing.status, 404);
      assert.equal((await json(missing)).code, 4);

      const location = { repository: 'https://github.com/posit-dev/posit-sdk-py', branch: '1dacc4dd', directory: 'integration/resources/connect/bundles/example-quarto-minimal', polling: false };
      const created = await link(content.guid, location);
      assert.deepEqual(created, { ...location, last_error: null, last_known_commit: null, last_fetched_time: null });
      assert.deepEqual(await json(await t.api(repositoryPath(content.guid))), created);

      const patched = await json(await t.api(repositoryPath(content.guid), { method: 'PATCH', json: { branch: 'main' } }));
      assert.deepEqual(patched, { ...created, branch: 'main' });

      const deleted = await t.api(repositoryPath(content.guid), { method: 'DELETE' });
      assert.equal(deleted.status, 204);
      assert.equal((await t.api(repositoryPath(content.guid))).status, 404);
      assert.equal((await t.api(repositoryPath(content.guid), { method: 'PATCH', json: { branch: 'main' } })).status, 404);
    });

    test('locations git could misread are refused with code 25 before anything is stored', async () => {
      const content = await createContent('refused-locations');
      const refusals: Array<[Record<string, unknown>, RegExp]> = [
        [{ repository: 'file:///etc' }, /https/],
        [{ repository: 'git://example.org/repo.git' }, /git:\/\/ is not supported/],
        [{ repository: 'ssh://git@example.org/repo.git' }, /not supported/],
        [{ repository: '--upload-pack=/tmp/pwned' }, /not a URL/],
        [{ repository: 'https://example.org/a repo.git' }, /spaces/],
        [{ repository: 'example.org:repo.git' }, /not supported|not a URL/],
        [{ repository: 'https://example.org/repo.git', branch: '--upload-pack=x' }, /branch/],
        [{ repository: 'https://example.org/repo.git', branch: 'main:refs/heads/x' }, /branch/],
        [{ repository: 'https://example.org/repo.git', branch: 'HEAD~1' }, /branch/],
        [{ repository: 'https://example.org/repo.git', directory: '../outside' }, /inside the repository/],
      ];
      for (const [body, message] of refusals) {
        const res = await t.api(repositoryPath(content.guid), { method: 'PUT', json: body });
        const answer = await json(res);
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.equal(answer.code, 25, JSON.stringify(body));
        assert.match(answer.error, message, JSON.stringify(body));
      }
      assert.equal((await t.api(repositoryPath(content.guid))).status, 404, 'nothing was stored');
    });

    test('deploy from a branch, refuse uploads, and redeploy within one poll interval of a push', async () => {
      const repo = await gitServer.createRepository('site');
      const first = await repo.commit(site('<h1>first</h1>'));
      const content = await createContent('git-site');
      await link(content.guid, { repository: repo.url, branch: 'main', directory: 'site', polling: true });

      const task = await deployFromGit(content.guid);
      assert.equal(task.code, 0, task.output.join('\n'));
      assert.ok(
        task.output.some((l) => l.includes(first)),
        task.output.join('\n'),
      );
      assert.match(await page(content.guid), /first/);

      const record = await json(await t.api(repositoryPath(content.guid)));
      assert.equal(record.last_known_commit, first);
      assert.equal(record.last_error, null);
      assert.ok(record.last_fetched_time);

      const [bundle] = await json(await t.api(`/__api__/v1/content/${content.guid}/bundles`));
      assert.equal(bundle.active, true);
      assert.deepEqual(
        { source: bundle.metadata.source, source_repo: bundle.metadata.source_repo, source_branch: bundle.metadata.source_branch, source_commit: bundle.metadata.source_commit },
        { source: 'git', source_repo: repo.url, source_branch: 'main', source_commit: first },
      );

      const upload = await t.api(`/__api__/v1/content/${content.guid}/bundles`, {
        method: 'POST',
        body: makeTarGz([
          { name: 'manifest.json', content: STATIC_MANIFEST },
          { name: 'index.html', content: 'x' },
        ]),
      });
      assert.equal(upload.status, 409);
      assert.equal((await json(upload)).code, 144);
      const legacyUpload = await t.api(`/__api__/applications/${content.guid}/upload`, { method: 'POST', body: makeTarGz([{ name: 'manifest.json', content: STATIC_MANIFEST }]) });
      assert.equal(legacyUpload.status, 409, 'the legacy upload route refuses too');
      assert.equal((await json(legacyUpload)).code, 144);

      const second = await repo.commit(site('<h1>second</h1>'));
      await eventually('the pushed commit to be live', async () => (await page(content.guid)).includes('second'), { timeoutMs: 60_000, intervalMs: 100 });
      const after = await json(await t.api(repositoryPath(content.guid)));
      assert.equal(after.last_known_commit, second);
      const bundles = await json(await t.api(`/__api__/v1/content/${content.guid}/bundles`));
      assert.equal(bundles.length, 2, 'one redeploy for one push');

      // Polling off: a push is not deployed; removing the link makes uploads possible again.
      await t.api(repositoryPath(content.guid), { method: 'PATCH', json: { polling: false } });
      await repo.commit(site('<h1>third</h1>'));
      assert.equal((await t.api(repositoryPath(content.guid), { method: 'DELETE' })).status, 204);
      const uploaded = await t.api(`/__api__/v1/content/${content.guid}/bundles`, {
        method: 'POST',
        body: makeTarGz([
          { name: 'manifest.json', content: STATIC_MANIFEST },
          { name: 'index.html', content: 'uploaded' },
        ]),
      });
      assert.equal(uploaded.status, 200);
      assert.match(await page(content.guid), /second/);
    });

    test('an unknown branch, a directory without manifest.json and an unreachable repository fail the task and set last_error', async () => {
      const repo = await gitServer.createRepository('errors');
      await repo.commit({ ...site('<p>ok</p>'), 'docs/readme.md': '# no manifest here' });
      const content = await createContent('git-errors');
      const closedPort = await freePort();
      const cases: Array<[Record<string, unknown>, RegExp]> = [
        [{ repository: repo.url, branch: 'no-such-branch', directory: 'site' }, /no branch or tag "no-such-branch" \(its branches are main\)/],
        [{ repository: repo.url, branch: 'main', directory: 'docs' }, /"docs" has no manifest\.json/],
        [{ repository: repo.url, branch: 'main', directory: 'nowhere' }, /"nowhere" does not exist/],
        [{ repository: `http://127.0.0.1:${closedPort}/gone.git`, branch: 'main', directory: '.' }, /Could not connect|Failed to connect|Connection refused/i],
      ];
      for (const [location, message] of cases) {
        await link(content.guid, { ...location, polling: false });
        const task = await deployFromGit(content.guid);
        assert.notEqual(task.code, 0, JSON.stringify(location));
        assert.match(task.error, message, JSON.stringify(location));
        const record = await json(await t.api(repositoryPath(content.guid)));
        assert.match(record.last_error, message);
      }
      const live = await json(await t.api(`/__api__/v1/content/${content.guid}`));
      assert.equal(live.bundle_id, null, 'no failed deploy changed the content');
    });

    test('POST repository/bundle makes a bundle from a ref without deploying it', async () => {
      const repo = await gitServer.createRepository('bundles');
      const tagged = await repo.commit(site('<p>tagged</p>', '.'));
      const content = await createContent('git-bundle');
      await link(content.guid, { repository: repo.url, branch: 'main', directory: '.', polling: false });
      const res = await t.api(`/__api__/v1/content/${content.guid}/repository/bundle`, { method: 'POST', json: { ref: tagged } });
      const answer = await json(res);
      assert.equal(res.status, 200, JSON.stringify(answer));
      assert.deepEqual(answer.location, { repository: repo.url, ref: tagged, directory: '.', commit: tagged });
      const bundle = await json(await t.api(`/__api__/v1/content/${content.guid}/bundles/${answer.bundle_id}`));
      assert.equal(bundle.metadata.source_commit, tagged);
      assert.equal(bundle.active, false);
      const task = await json(await t.api(`/__api__/v1/tasks/${answer.task_id}`));
      assert.equal(task.finished, true);

      const bad = await t.api(`/__api__/v1/content/${content.guid}/repository/bundle`, { method: 'POST', json: { ref: 'missing' } });
      assert.equal(bad.status, 400);
      assert.match((await json(bad)).error, /no branch or tag "missing"/);
    });

    test("Connect's repo helpers: the account for a host, a repository's branches and its manifest directories (as connectapi polls them)", async () => {
      const repo = await gitServer.createRepository('helpers');
      const main = await repo.commit({ ...site('<p>a</p>', 'apps/a'), ...site('<p>root</p>', '.'), 'docs/readme.md': 'no manifest' });
      const feature = await repo.commit(site('<p>b</p>', 'apps/b'), { branch: 'feature/b' });
      const account = await json(await t.api(`/__api__/repo/account?url=${encodeURIComponent(new URL(gitServer.url).origin)}`));
      assert.deepEqual(account, { username: '' });

      const branches = await json(await t.api(`/__api__/repo/branches?url=${encodeURIComponent(repo.url)}`));
      const listed = await waitForTask(t, branches.task_id);
      assert.equal(listed.code, 0, listed.error);
      assert.deepEqual(listed.result, {
        type: 'git-repo-ref-branch-array',
        data: [
          { branch: 'feature/b', ref: feature },
          { branch: 'main', ref: main },
        ],
      });

      const dirs = await json(await t.api(`/__api__/repo/manifest-dirs?url=${encodeURIComponent(repo.url)}&branch=feature/b`));
      const found = await waitForTask(t, dirs.task_id);
      assert.equal(found.code, 0, found.error);
      assert.deepEqual(found.result, { type: 'git-repo-branch-manifest-dirs-array', data: ['.', 'apps/a', 'apps/b'] });

      const refused = await t.api(`/__api__/repo/branches?url=${encodeURIComponent('file:///etc')}`);
      assert.equal(refused.status, 400);
      const viewer = await t.addUser(`helper-viewer-${provider}`, 'viewer');
      assert.equal((await t.api(`/__api__/repo/branches?url=${encodeURIComponent(repo.url)}`, { key: viewer.key })).status, 403);
    });

    test('rsconnect deploy git deploys from the repository and the content answers', async () => {
      const repo = await gitServer.createRepository('rsconnect-site');
      await repo.commit(site('<h1>from rsconnect</h1>', 'app'));
      const result = await runRsconnect('latest', ['deploy', 'git', '-s', t.url, '-k', t.adminKey, '--repository', repo.url, '--branch', 'main', '--subdirectory', 'app', '--no-polling'], {
        timeoutMs: 300_000,
      });
      const log = `${result.stdout}\n${result.stderr}`;
      assert.equal(result.code, 0, log);
      const guid = /\/content\/([0-9a-f-]{36})\//.exec(log)?.[1];
      assert.ok(guid, log);
      assert.match(await page(guid), /from rsconnect/);
      const record = await json(await t.api(repositoryPath(guid)));
      assert.equal(record.directory, 'app');
      assert.equal(record.polling, false);
      const content = await json(await t.api(`/__api__/v1/content/${guid}`));
      assert.equal(content.title, 'rsconnect-site/app');
    });
  });
}

describe('git polling with several replicas on one PostgreSQL database', { skip: !PROVIDERS.includes('postgres') && 'PostgreSQL is not among LECTERN_TEST_DATABASES' }, () => {
  test('each push is deployed once, whichever replica checks the branch', async () => {
    const gitServer = await startGitServer();
    const databaseUrl = await postgresDatabaseUrl();
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'lectern-git-replicas-'));
    const settings = { 'Git.PollingFrequency': '1s', 'Tasks.PollInterval': '200ms' } as const;
    const a = await startLectern('postgres', { ...settings, 'Server.ReplicaName': 'git-replica-a' }, { dataDir, databaseUrl });
    const b = await startLectern('postgres', { ...settings, 'Server.ReplicaName': 'git-replica-b' }, { dataDir, databaseUrl });
    try {
      const repo = await gitServer.createRepository('replicated');
      await repo.commit(site('<h1>v0</h1>', '.'));
      const content = await json(await a.api('/__api__/v1/content', { method: 'POST', json: { name: 'replicated-git' } }));
      await a.api(`/__api__/v1/content/${content.guid}/repository`, { method: 'PUT', json: { repository: repo.url, branch: 'main', directory: '.', polling: true } });
      const page = async () => (await fetch(`${b.url}/content/${content.guid}/`, { headers: { authorization: `Key ${a.adminKey}` } })).text();
      await eventually('the first poll to deploy v0', async () => (await page()).includes('v0'), { timeoutMs: 60_000 });
      for (const version of ['v1', 'v2', 'v3']) {
        await repo.commit(site(`<h1>${version}</h1>`, '.'));
        await eventually(`${version} to be live`, async () => (await page()).includes(version), { timeoutMs: 60_000 });
      }
      // Several more poll intervals pass with the branch unchanged: nothing more is deployed.
      const checked = async () => (await json(await a.api(`/__api__/v1/content/${content.guid}/repository`))).last_fetched_time as string;
      const lastCheck = await checked();
      await eventually('two more polls of the unchanged branch', async () => (await checked()) > lastCheck && (await checked()), { timeoutMs: 30_000 });
      const bundles = await json(await a.api(`/__api__/v1/content/${content.guid}/bundles`));
      assert.equal(bundles.length, 4, 'one bundle per commit');
      const deploys = await a.app.store.db.selectFrom('tasks').select(['id', 'claimed_by']).where('content_id', '=', Number(content.id)).where('kind', '=', 'deploy').execute();
      assert.equal(deploys.length, 4, 'one deploy per commit');
    } finally {
      await b.stop();
      await a.stop();
      await gitServer.close();
    }
  });
});

describe(`private repositories with [GitCredential] (${PROVIDERS[0]})`, () => {
  test('the configured credentials reach the repository host; without them the deploy says authentication failed', async () => {
    const gitServer = await startGitServer({ basicAuth: { username: 'deployer', password: 's3cret-token' } });
    const host = new URL(gitServer.url).host;
    const withCredentials = await startLectern(PROVIDERS[0]!, {
      'GitCredential.Host': host,
      'GitCredential.Username': 'deployer',
      'GitCredential.Password': 's3cret-token',
      'GitCredential.Protocol': 'http',
    });
    const without = await startLectern(PROVIDERS[0]!);
    try {
      const repo = await gitServer.createRepository('private');
      await repo.commit(site('<h1>private</h1>', '.'));
      for (const [t, succeeds] of [
        [withCredentials, true],
        [without, false],
      ] as const) {
        const content = await json(await t.api('/__api__/v1/content', { method: 'POST', json: { name: 'private-site' } }));
        await t.api(`/__api__/v1/content/${content.guid}/repository`, { method: 'PUT', json: { repository: repo.url, branch: 'main', directory: '.' } });
        const res = await t.api(`/__api__/v1/content/${content.guid}/deploy`, { method: 'POST', json: { bundle_id: null } });
        const task = await waitForTask(t, (await json(res)).task_id);
        assert.ok(!task.output.join('\n').includes('s3cret-token'), 'the password is never shown');
        if (succeeds) {
          assert.equal(task.code, 0, task.output.join('\n'));
          const page = await fetch(`${t.url}/content/${content.guid}/`, { headers: { authorization: `Key ${t.adminKey}` } });
          assert.match(await page.text(), /private/);
        } else {
          assert.notEqual(task.code, 0);
          assert.match(task.error, /asks for credentials: an administrator can set \[GitCredential\] Host, Username and Password for 127\.0\.0\.1:/);
        }
      }
    } finally {
      await without.stop();
      await withCredentials.stop();
      await gitServer.close();
    }
  });
});

describe(`git-backed content switched off (${PROVIDERS[0]})`, () => {
  test('[Git] Enabled = false: server_settings says so, the repository routes answer 404 and rsconnect deploy git says git is not enabled', async () => {
    const t = await startLectern(PROVIDERS[0]!, { 'Git.Enabled': 'false' });
    try {
      const settings = await json(await t.api('/__api__/server_settings', { key: null }));
      assert.equal(settings.git_enabled, false);
      assert.equal(settings.git_available, false);
      const content = await json(await t.api('/__api__/v1/content', { method: 'POST', json: { name: 'no-git' } }));
      const res = await t.api(`/__api__/v1/content/${content.guid}/repository`, { method: 'PUT', json: { repository: 'https://example.org/repo.git' } });
      assert.equal(res.status, 404);
      assert.match((await json(res)).error, /not enabled/);
      const result = await runRsconnect('latest', ['deploy', 'git', '-s', t.url, '-k', t.adminKey, '--repository', 'https://example.org/repo.git', '--no-verify']);
      assert.notEqual(result.code, 0);
      assert.match(`${result.stdout}\n${result.stderr}`, /Git-backed deployment is not enabled on this Connect server/);
    } finally {
      await t.stop();
    }
  });
});

describe(`git fetch limits (${PROVIDERS[0]})`, () => {
  test('a repository larger than [Git] MaxFetchSize is not deployed, and the task says why', async () => {
    const gitServer = await startGitServer();
    const t = await startLectern(PROVIDERS[0]!, { 'Git.MaxFetchSize': '256KiB' });
    try {
      const repo = await gitServer.createRepository('large');
      // Random bytes do not compress: the fetched pack is as large as the file.
      await repo.commit({ ...site('<p>large</p>', '.'), 'data.bin': randomBytes(1024 * 1024).toString('base64') });
      const content = await json(await t.api('/__api__/v1/content', { method: 'POST', json: { name: 'large-repo' } }));
      await t.api(`/__api__/v1/content/${content.guid}/repository`, { method: 'PUT', json: { repository: repo.url, branch: 'main', directory: '.' } });
      const res = await t.api(`/__api__/v1/content/${content.guid}/deploy`, { method: 'POST', json: { bundle_id: null } });
      const task = await waitForTask(t, (await json(res)).task_id);
      assert.notEqual(task.code, 0);
      assert.match(task.error, /larger than the limit of 256 KiB \(\[Git\] MaxFetchSize\)/);
      assert.equal((await json(await t.api(`/__api__/v1/content/${content.guid}`))).bundle_id, null);
    } finally {
      await t.stop();
      await gitServer.close();
    }
  });
});

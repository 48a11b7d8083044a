import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { executionSettings } from '../support/execution.js';
import { PROVIDERS, postgresDatabaseUrl, startLectern, stopPostgres, waitForTask, type Provider, type TestServer } from '../support/lectern.js';
import { makeTarGz } from '../support/tarball.js';
import { eventually } from '../support/eventually.js';
import type { JobSpec } from '../../src/launcher/launcher.js';
import { createLogger } from '../../src/logging/logger.js';
import { OffHostLauncherDouble } from '../support/off-host-launcher.js';

after(stopPostgres);

async function json(res: Response) {
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  return res.json() as Promise<any>;
}

async function expectError(res: Response, status: number, code: number, message: RegExp) {
  const body = await json(res);
  assert.equal(res.status, status, JSON.stringify(body));
  assert.equal(body.code, code, JSON.stringify(body));
  assert.match(body.error, message);
  return body;
}

const PY = {
  title: 'Python 3.12',
  name: 'ghcr.io/acme/content:py3.12',
  cluster_name: 'Kubernetes',
  python: { installations: [{ version: '3.12.4', path: '/opt/python/3.12.4/bin/python3' }] },
};

const until = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000) => eventually(what, probe, { timeoutMs, intervalMs: 50 });

async function auditActions(t: TestServer): Promise<string[]> {
  const page = await json(await t.api('/__api__/v1/audit_logs?limit=500'));
  return page.results.map((r: { action: string; event_description: string }) => `${r.action}: ${r.event_description}`);
}

for (const provider of PROVIDERS) {
  describe(`execution environments API (${provider})`, () => {
    let t: TestServer;
    let publisher: { key: string; guid: string };
    let other: { key: string; guid: string };
    let viewer: { key: string; guid: string };
    before(async () => {
      t = await startLectern(provider);
      publisher = await t.addUser('ee-publisher', 'publisher');
      other = await t.addUser('ee-other', 'publisher');
      viewer = await t.addUser('ee-viewer', 'viewer');
    });
    after(() => t.stop());

    test('administrators create, read, update and delete; every change is audited', async () => {
      const created = await json(await t.api('/__api__/v1/environments', { method: 'POST', json: { ...PY, description: 'Scientific Python', matching: 'any' } }));
      assert.match(created.guid, /^[0-9a-f-]{36}$/);
      assert.deepEqual(
        { ...created, id: undefined, guid: undefined, created_time: undefined, updated_time: undefined },
        {
          id: undefined,
          guid: undefined,
          created_time: undefined,
          updated_time: undefined,
          title: 'Python 3.12',
          description: 'Scientific Python',
          cluster_name: 'Kubernetes',
          name: PY.name,
          environment_type: 'Kubernetes',
          matching: 'any',
          supervisor: null,
          managed_by: null,
          python: PY.python,
          r: { installations: [] },
          quarto: { installations: [] },
          tensorflow: { installations: [] },
          volume_mounts: [],
        },
      );
      assert.match(created.created_time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.deepEqual(await json(await t.api(`/__api__/v1/environments/${created.guid}`)), created);
      assert.ok((await json(await t.api('/__api__/v1/environments'))).some((e: { guid: string }) => e.guid === created.guid));

      // PUT changes what it names and keeps the rest; a client may send the whole object back.
      const put = await t.api(`/__api__/v1/environments/${created.guid}`, {
        method: 'PUT',
        json: { ...created, title: 'Python 3.12 (2026)', matching: 'exact', r: { installations: [{ version: '4.4.1', path: '/opt/R/4.4.1/bin/R' }] } },
      });
      const updated = await json(put);
      assert.equal(put.status, 200);
      assert.equal(updated.title, 'Python 3.12 (2026)');
      assert.equal(updated.matching, 'exact');
      assert.equal(updated.description, 'Scientific Python');
      assert.deepEqual(updated.r.installations, [{ version: '4.4.1', path: '/opt/R/4.4.1/bin/R' }]);
      assert.deepEqual(updated.python, PY.python);

      await expectError(await t.api(`/__api__/v1/environments/${created.guid}`, { method: 'PUT', json: { name: 'ghcr.io/acme/other:1' } }), 400, 25, /name cannot be changed/);
      await expectError(await t.api('/__api__/v1/environments', { method: 'POST', json: PY }), 409, 26, /image ghcr\.io\/acme\/content:py3\.12 already exists/);

      const del = await t.api(`/__api__/v1/environments/${created.guid}`, { method: 'DELETE' });
      assert.equal(del.status, 204);
      await expectError(await t.api(`/__api__/v1/environments/${created.guid}`), 404, 4, /does not exist/);
      await expectError(await t.api(`/__api__/v1/environments/${created.guid}`, { method: 'DELETE' }), 404, 4, /does not exist/);

      const audit = await auditActions(t);
      for (const action of ['add_environment', 'update_environment', 'remove_environment']) {
        assert.ok(
          audit.some((a) => a.startsWith(`${action}: `) && a.includes(created.guid)),
          `${action} in ${audit.join('\n')}`,
        );
      }
    });

    test('publishers read, viewers see nothing, only administrators write', async () => {
      const env = await json(await t.api('/__api__/v1/environments', { method: 'POST', json: { ...PY, name: 'ghcr.io/acme/roles:1' } }));
      assert.ok((await json(await t.api('/__api__/v1/environments', { key: publisher.key }))).some((e: { guid: string }) => e.guid === env.guid));
      assert.equal((await json(await t.api(`/__api__/v1/environments/${env.guid}`, { key: publisher.key }))).name, 'ghcr.io/acme/roles:1');
      await expectError(await t.api('/__api__/v1/environments', { key: viewer.key }), 403, 22, /publisher role/);
      await expectError(await t.api('/__api__/v1/environments', { key: null }), 401, 24, /requires authentication/);
      await expectError(await t.api('/__api__/v1/environments', { method: 'POST', key: publisher.key, json: { ...PY, name: 'ghcr.io/acme/mine:1' } }), 403, 22, /administrator role/);
      await expectError(await t.api(`/__api__/v1/environments/${env.guid}`, { method: 'PUT', key: publisher.key, json: { title: 'x' } }), 403, 22, /administrator/);
      await expectError(await t.api(`/__api__/v1/environments/${env.guid}`, { method: 'DELETE', key: publisher.key }), 403, 22, /administrator/);
      await expectError(await t.api(`/__api__/v1/environments/${env.guid}/permissions`, { key: publisher.key }), 403, 22, /administrator/);
    });

    test('bad definitions are refused with the field that is wrong, and nothing is stored', async () => {
      const cases: Array<[unknown, number, RegExp]> = [
        [{ name: 'ghcr.io/acme/x:1', cluster_name: 'Kubernetes' }, 12, /^title: "title" is required/],
        [{ title: 'x', cluster_name: 'Kubernetes' }, 12, /^name: "name" is required/],
        [{ title: 'x', name: 'ghcr.io/acme/x:1' }, 12, /^cluster_name: "cluster_name" is required/],
        [{ ...PY, name: 'ghcr.io/acme/x:1', cluster_name: 'Local' }, 25, /cluster_name must be "Kubernetes"/],
        [{ ...PY, name: 'Not an image!' }, 25, /^name: "Not an image!" is not a container image reference/],
        [{ ...PY, name: 'ghcr.io/acme/x:1', matching: 'sometimes' }, 25, /^matching: matching must be one of any, exact, none/],
        [{ ...PY, name: 'ghcr.io/acme/x:1', python: { installations: [{ version: '3.12.4', path: 'python3' }] } }, 25, /^python\.installations\[0\]\.path: expected an absolute path/],
        [
          { ...PY, name: 'ghcr.io/acme/x:1', python: { installations: [{ version: 'latest', path: '/usr/bin/python3' }] } },
          25,
          /^python\.installations\[0\]\.version: "latest" is not a version number/,
        ],
        [
          {
            ...PY,
            name: 'ghcr.io/acme/x:1',
            r: {
              installations: [
                { version: '4.4.1', path: '/a/R' },
                { version: '4.4.1', path: '/b/R' },
              ],
            },
          },
          25,
          /r 4\.4\.1 is listed twice/,
        ],
        [{ ...PY, name: 'ghcr.io/acme/x:1', pyhton: {} }, 25, /^pyhton: unknown field "pyhton"/],
        [{ ...PY, name: 'ghcr.io/acme/x:1', volume_mounts: [{ source: { volume_type: 'hostPath' }, target: { path: '/data' } }] }, 25, /volume_type must be "nfs" or "pvc"/],
        [[PY], 121, /must be a JSON object/],
      ];
      for (const [body, code, message] of cases) {
        const res = await t.api('/__api__/v1/environments', { method: 'POST', json: body });
        await expectError(res, 400, code, message);
      }
      const names = (await json(await t.api('/__api__/v1/environments'))).map((e: { name: string }) => e.name);
      assert.ok(!names.includes('ghcr.io/acme/x:1'));
      const malformed = await t.api('/__api__/v1/environments', { method: 'POST', body: '{"title": ', headers: { 'content-type': 'application/json' } });
      assert.equal(malformed.status, 400);
    });

    test('permissions restrict an environment to users and groups; no permission = everyone', async () => {
      const env = await json(await t.api('/__api__/v1/environments', { method: 'POST', json: { ...PY, name: 'ghcr.io/acme/restricted:1' } }));
      const url = `/__api__/v1/environments/${env.guid}/permissions`;
      assert.deepEqual(await json(await t.api(url)), []);
      const grant = await json(await t.api(url, { method: 'POST', json: { user_guid: publisher.guid } }));
      assert.deepEqual(Object.keys(grant).sort(), ['environment_guid', 'group_guid', 'guid', 'id', 'user_guid']);
      assert.equal(grant.environment_guid, env.guid);
      assert.equal(grant.user_guid, publisher.guid);
      assert.equal(grant.group_guid, null);

      const sees = async (key: string) => (await json(await t.api('/__api__/v1/environments', { key }))).some((e: { guid: string }) => e.guid === env.guid);
      assert.equal(await sees(publisher.key), true);
      assert.equal(await sees(other.key), false, 'restricted: others do not see it');
      await expectError(await t.api(`/__api__/v1/environments/${env.guid}`, { key: other.key }), 404, 4, /does not exist/);

      // Through a group.
      const group = await json(await t.api('/__api__/v1/groups', { method: 'POST', json: { name: 'ee-data-science' } }));
      assert.equal((await t.api(`/__api__/v1/groups/${group.guid}/members`, { method: 'POST', json: { user_guid: other.guid } })).status, 204);
      const groupGrant = await json(await t.api(url, { method: 'POST', json: { group_guid: group.guid } }));
      assert.equal(groupGrant.group_guid, group.guid);
      assert.equal(await sees(other.key), true);

      await expectError(await t.api(url, { method: 'POST', json: { user_guid: publisher.guid } }), 409, 26, /may already use/);
      await expectError(await t.api(url, { method: 'POST', json: { user_guid: publisher.guid, group_guid: group.guid } }), 400, 12, /exactly one of user_guid and group_guid/);
      await expectError(await t.api(url, { method: 'POST', json: {} }), 400, 12, /exactly one/);
      await expectError(await t.api(url, { method: 'POST', json: { user_guid: '00000000-0000-0000-0000-000000000000' } }), 400, 25, /User .* does not exist/);
      await expectError(await t.api(url, { method: 'POST', json: { principal_guid: publisher.guid } }), 400, 25, /Unknown field "principal_guid"/);

      assert.equal((await t.api(`${url}/${groupGrant.guid}`, { method: 'DELETE' })).status, 204);
      assert.equal(await sees(other.key), false);
      await expectError(await t.api(`${url}/${groupGrant.guid}`, { method: 'DELETE' }), 404, 4, /Permission .* does not exist/);
      assert.equal((await t.api(`${url}/${grant.guid}`, { method: 'DELETE' })).status, 204);
      assert.equal(await sees(other.key), true, 'no permissions left: everyone may use it again');
      const audit = await auditActions(t);
      assert.ok(audit.some((a) => a.startsWith('add_environment_permission: ') && a.includes(publisher.guid)));
      assert.ok(audit.some((a) => a.startsWith('remove_environment_permission: ') && a.includes(group.guid)));
    });

    test('server_settings lists local interpreters while off-host execution is off', async () => {
      const body = await json(await t.api('/__api__/v1/server_settings/python', { key: publisher.key }));
      for (const i of body.installations) assert.deepEqual([i.cluster_name, i.image_name], ['Local', 'Local']);
    });
  });

  describe(`declarative environments file (${provider})`, () => {
    let t: TestServer;
    let dir: string;
    let file: string;
    const logged: string[] = [];

    const write = async (text: string) => {
      // Replace the file the way editors and ConfigMap volumes do: write aside, rename over.
      await writeFile(`${file}.tmp`, text);
      await rename(`${file}.tmp`, file);
    };
    const byName = async () => new Map<string, any>((await json(await t.api('/__api__/v1/environments'))).map((e: any) => [e.name, e]));

    before(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'lectern-envfile-'));
      file = path.join(dir, 'environments.yaml');
      await writeFile(
        file,
        `- name: ghcr.io/acme/file-py:3.12
  title: File Python
  python:
    installations: [{version: 3.12.4, path: /opt/python/3.12.4/bin/python3}]
- name: ghcr.io/acme/file-r:4.4
  r:
    installations: [{version: 4.4.1, path: /opt/R/4.4.1/bin/R}]
`,
      );
      // No timer: only file-system events can make the later changes apply.
      // Capture what the watcher logs (the server's log at info, as lines of JSON).
      const sink = new Writable({
        write(chunk: Buffer, _encoding, done) {
          for (const line of chunk.toString().split('\n').filter(Boolean)) logged.push((JSON.parse(line) as { msg: string }).msg);
          done();
        },
      });
      t = await startLectern(provider, { 'ExecutionEnvironments.ConfigFilePath': file, 'ExecutionEnvironments.CheckInterval': '0' }, undefined, { logger: createLogger('info', sink) });
      assert.ok(t.app.environmentFile);
    });
    after(async () => {
      await t.stop();
      await rm(dir, { recursive: true, force: true });
    });

    test('entries are created at start-up and marked as managed by the file; the API refuses to change them', async () => {
      const envs = await byName();
      const py = envs.get('ghcr.io/acme/file-py:3.12');
      assert.equal(py.managed_by, file);
      assert.equal(py.title, 'File Python');
      assert.equal(envs.get('ghcr.io/acme/file-r:4.4').title, 'ghcr.io/acme/file-r:4.4', 'title defaults to the image');
      const put = await expectError(
        await t.api(`/__api__/v1/environments/${py.guid}`, { method: 'PUT', json: { title: 'x' } }),
        409,
        21,
        /is managed by .*environments\.yaml; change that file instead/,
      );
      assert.equal(put.payload.managed_by, file);
      await expectError(await t.api(`/__api__/v1/environments/${py.guid}`, { method: 'DELETE' }), 409, 21, /managed by/);
      assert.equal((await byName()).get('ghcr.io/acme/file-py:3.12').title, 'File Python');
      // Access restrictions are not part of the file format, so the API still sets them.
      const grant = await t.api(`/__api__/v1/environments/${py.guid}/permissions`, { method: 'POST', json: { user_guid: (await t.addUser('file-user', 'publisher')).guid } });
      assert.equal(grant.status, 200);
    });

    test('changes to the file apply live: updated, added, removed; API-created environments stay unless the file names them', async () => {
      const apiOwned = await json(await t.api('/__api__/v1/environments', { method: 'POST', json: { ...PY, name: 'ghcr.io/acme/api-owned:1' } }));
      const adopted = await json(await t.api('/__api__/v1/environments', { method: 'POST', json: { ...PY, name: 'ghcr.io/acme/adopted:1' } }));
      const before = (await byName()).get('ghcr.io/acme/file-py:3.12');
      await write(`- name: ghcr.io/acme/file-py:3.12
  title: File Python (updated)
  matching: exact
  python:
    installations: [{version: 3.12.5, path: /opt/python/3.12.5/bin/python3}]
- name: ghcr.io/acme/file-quarto:1.5
  quarto:
    installations: [{version: 1.5.57, path: /opt/quarto/bin/quarto}]
- name: ghcr.io/acme/adopted:1
  title: Now from the file
`);
      const envs = await until('the file to apply', async () => {
        const m = await byName();
        return m.has('ghcr.io/acme/file-quarto:1.5') && !m.has('ghcr.io/acme/file-r:4.4') ? m : undefined;
      });
      const py = envs.get('ghcr.io/acme/file-py:3.12');
      assert.equal(py.guid, before.guid, 'updated in place, same guid');
      assert.equal(py.title, 'File Python (updated)');
      assert.equal(py.matching, 'exact');
      assert.deepEqual(py.python.installations, [{ version: '3.12.5', path: '/opt/python/3.12.5/bin/python3' }]);
      assert.equal(envs.get('ghcr.io/acme/api-owned:1').managed_by, null);
      const took = envs.get('ghcr.io/acme/adopted:1');
      assert.equal(took.guid, adopted.guid);
      assert.equal(took.managed_by, file);
      assert.equal(took.title, 'Now from the file');
      assert.equal((await t.api(`/__api__/v1/environments/${apiOwned.guid}`, { method: 'PUT', json: { title: 'still mine' } })).status, 200);
      const audit = await auditActions(t);
      assert.ok(
        audit.some((a) => a.startsWith('sync_environments: ') && a.includes('removed ghcr.io/acme/file-r:4.4') && a.includes('took over ghcr.io/acme/adopted:1')),
        audit.join('\n'),
      );
    });

    test('a broken file is logged with its line and changes nothing; fixing it applies', async () => {
      const before = await byName();
      await write('- name: ghcr.io/acme/file-py:3.12\n  python:\n    installations: [{version: 3.12.5, path: relative/python}]\n');
      const message = await until('the error to be logged', async () => logged.find((m) => m.includes('relative/python')));
      assert.match(
        message,
        new RegExp(
          `^execution environments: ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:3: expected an absolute path inside the image, got "relative/python"; keeping the environments as they were$`,
        ),
      );
      assert.deepEqual([...(await byName()).keys()].sort(), [...before.keys()].sort());
      await write('not: [valid yaml\n');
      await until('the YAML error to be logged', async () => logged.find((m) => m.includes('invalid YAML')));
      assert.deepEqual([...(await byName()).keys()].sort(), [...before.keys()].sort());
      await rm(file);
      await until('the missing file to be logged', async () => logged.find((m) => m.includes('it does not exist')));
      assert.deepEqual([...(await byName()).keys()].sort(), [...before.keys()].sort(), 'a missing file removes nothing');

      await write('- name: ghcr.io/acme/file-py:3.12\n  python:\n    installations: [{version: 3.12.6, path: /opt/python/3.12.6/bin/python3}]\n');
      const envs = await until('the fixed file to apply', async () => {
        const m = await byName();
        return m.has('ghcr.io/acme/file-quarto:1.5') ? undefined : m;
      });
      assert.deepEqual(envs.get('ghcr.io/acme/file-py:3.12').python.installations, [{ version: '3.12.6', path: '/opt/python/3.12.6/bin/python3' }]);
      assert.ok(envs.has('ghcr.io/acme/api-owned:1'));
    });
  });

  describe(`ClusterDefinition bootstrap (${provider})`, () => {
    test('seeds an empty table once; the API owns the records afterwards; a broken file stops start-up with file and line', async () => {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'lectern-clusterdef-'));
      const one = path.join(dir, 'py.yaml');
      const two = path.join(dir, 'r.yaml');
      await writeFile(one, 'name: Kubernetes\nimages:\n  - name: ghcr.io/acme/boot-py:3.11\n    python: {installations: [{path: /opt/python/3.11.9/bin/python3, version: 3.11.9}]}\n');
      await writeFile(two, 'name: Kubernetes\nimages:\n  - name: ghcr.io/acme/boot-r:4.3\n    r: {installations: [{path: /opt/R/4.3.3/bin/R, version: 4.3.3}]}\n');
      const shared = { dataDir: dir, databaseUrl: provider === 'postgres' ? await postgresDatabaseUrl() : undefined };
      const settings = { 'Launcher.ClusterDefinition': `${one},${two}` };
      let t = await startLectern(provider, settings, shared);
      try {
        const envs = await json(await t.api('/__api__/v1/environments'));
        assert.deepEqual(
          envs.map((e: { name: string }) => e.name),
          ['ghcr.io/acme/boot-py:3.11', 'ghcr.io/acme/boot-r:4.3'],
        );
        assert.equal(envs[0].managed_by, null, 'bootstrapped records belong to the API');
        const put = await t.api(`/__api__/v1/environments/${envs[0].guid}`, { method: 'PUT', json: { title: 'Edited in the API' } });
        assert.equal(put.status, 200);
      } finally {
        await t.stop();
      }
      // Later starts do not read the files again, even when they change (as in Connect).
      await writeFile(one, 'name: Kubernetes\nimages:\n  - name: ghcr.io/acme/boot-py:3.11\n    title: From the file again\n');
      t = await startLectern(provider, settings, shared);
      try {
        const envs = await json(await t.api('/__api__/v1/environments'));
        assert.equal(envs.length, 2);
        assert.equal(envs[0].title, 'Edited in the API');
      } finally {
        await t.stop();
      }

      const fresh = await mkdtemp(path.join(os.tmpdir(), 'lectern-clusterdef-bad-'));
      const bad = path.join(fresh, 'bad.yaml');
      await writeFile(bad, 'name: Kubernetes\nimages:\n  - name: ghcr.io/acme/bad:1\n    python:\n      installations:\n        - {path: /opt/python/bin/python3, version: three}\n');
      await assert.rejects(
        startLectern(provider, { 'Launcher.ClusterDefinition': bad }, { dataDir: fresh, databaseUrl: provider === 'postgres' ? await postgresDatabaseUrl() : undefined }),
        (err: Error) => err.message === `[Launcher] ClusterDefinition ${bad}:6: "three" is not a version number such as 3.12.4` || assert.fail(err.message),
      );
      await rm(dir, { recursive: true, force: true });
      await rm(fresh, { recursive: true, force: true });
    });
  });

  if (provider === 'postgres') {
    describe('declarative environments file followed by two replicas (postgres)', () => {
      test('both replicas apply every change; the table converges without errors or duplicates', async () => {
        const dir = await mkdtemp(path.join(os.tmpdir(), 'lectern-envfile-ha-'));
        const file = path.join(dir, 'environments.yaml');
        const entry = (tag: string) => `- name: ghcr.io/acme/ha:${tag}\n  python: {installations: [{version: 3.12.4, path: /opt/python/bin/python3}]}\n`;
        await writeFile(file, entry('1'));
        const settings = { 'ExecutionEnvironments.ConfigFilePath': file, 'ExecutionEnvironments.CheckInterval': '0' };
        const databaseUrl = await postgresDatabaseUrl();
        const a = await startLectern('postgres', { ...settings, 'Server.ReplicaName': 'replica-a' }, { dataDir: dir, databaseUrl });
        const b = await startLectern('postgres', { ...settings, 'Server.ReplicaName': 'replica-b' }, { dataDir: dir, databaseUrl });
        try {
          const names = async (t: TestServer) => (await json(await t.api('/__api__/v1/environments'))).map((e: { name: string }) => e.name).join(' ');
          for (const tags of [['1', '2', '3'], ['3', '4'], ['4']]) {
            await writeFile(`${file}.tmp`, tags.map(entry).join(''));
            await rename(`${file}.tmp`, file);
            const want = tags.map((tag) => `ghcr.io/acme/ha:${tag}`).join(' ');
            await until(`both replicas to see ${want}`, async () => ((await names(a)) === want && (await names(b)) === want ? true : undefined));
            // Both replicas settle on success: the one that lost an insert race retried.
            const outcomes = [await a.app.environmentFile!.settled(), await b.app.environmentFile!.settled()];
            for (const outcome of outcomes) assert.notEqual(outcome.state, 'error', JSON.stringify(outcome));
          }
        } finally {
          await b.stop();
          await a.stop();
          await rm(dir, { recursive: true, force: true });
        }
      });
    });
  }

  describe(`off-host execution: image selection, limits and listings (${provider})`, offHostSuite(provider));
}

// The interpreter the "image" names: with the local launcher standing in for Kubernetes (the
// Kubernetes backend is built on another branch), the path inside the image is a path on this
// machine, one the unprivileged content user can reach without the sandbox.
const PYTHON = '/usr/bin/python3';
const PYTHON_VERSION = execFileSync(PYTHON, ['-c', 'import platform; print(platform.python_version())'], { encoding: 'utf8' }).trim();

const STDLIB_APP = `
import json, sys
def app(environ, start_response):
    body = json.dumps({"python": sys.executable, "prefix": sys.prefix}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
`;

function pythonBundle(version: string, extra: Record<string, unknown> = {}) {
  const manifest = {
    version: 1,
    metadata: { appmode: 'python-api', entrypoint: 'app:app' },
    python: { version, package_manager: { name: 'pip', package_file: 'requirements.txt' } },
    files: { 'app.py': { checksum: '' }, 'requirements.txt': { checksum: '' } },
    ...extra,
  };
  return makeTarGz([
    { name: 'manifest.json', content: JSON.stringify(manifest) },
    { name: 'app.py', content: STDLIB_APP },
    { name: 'requirements.txt', content: '' },
  ]);
}

function offHostSuite(provider: Provider) {
  return () => {
    let t: TestServer;
    let publisher: { key: string; guid: string };
    let outsider: { key: string; guid: string };
    let specs: JobSpec[] = [];
    const local = (tag: string) => ({
      title: `This machine's Python (${tag})`,
      name: `lectern.test/python:${tag}`,
      cluster_name: 'Kubernetes',
      python: { installations: [{ version: PYTHON_VERSION, path: PYTHON }] },
    });

    before(async () => {
      t = await startLectern(
        provider,
        {
          'Python.UvExecutable': executionSettings()['Python.UvExecutable']!,
          'Launcher.Enabled': 'true',
          'Launcher.Kubernetes': 'true',
          // Image interpreters are not on the server's disk in general, so the sandbox (which exposes
          // only probed local interpreters) does not apply to them.
          'Applications.Sandbox': 'false',
          'Scheduler.MaxCPURequest': '2',
          'Scheduler.MaxCPULimit': '4',
          'Scheduler.MaxMemoryRequest': '1GiB',
          'Scheduler.MaxMemoryLimit': '2GiB',
          'Scheduler.MaxNvidiaGPULimit': '1',
          'Scheduler.MemoryRequest': '128MiB',
        },
        undefined,
        {
          // Observe what reaches the launcher (the double runs the jobs locally, for real).
          launcher: async (config) => {
            const double = await OffHostLauncherDouble.create(config);
            specs = double.specs;
            return double;
          },
        },
      );
      // Without the sandbox content sees the host file system as the unprivileged user.
      await chmod(t.dataDir, 0o755);
      publisher = await t.addUser('oh-publisher', 'publisher');
      outsider = await t.addUser('oh-outsider', 'publisher');
      for (const body of [
        local('a'),
        { ...local('exact'), matching: 'exact' },
        { ...local('disabled'), matching: 'none' },
        { title: 'Old Python', name: 'lectern.test/python:old', cluster_name: 'Kubernetes', python: { installations: [{ version: '3.8.18', path: '/opt/python/3.8.18/bin/python3' }] } },
        { title: 'R only', name: 'lectern.test/r:4.4', cluster_name: 'Kubernetes', r: { installations: [{ version: '4.4.1', path: '/opt/R/4.4.1/bin/R' }] } },
      ]) {
        const res = await t.api('/__api__/v1/environments', { method: 'POST', json: body });
        assert.equal(res.status, 200, await res.clone().text());
      }
    });
    after(() => t.stop());

    async function content(name: string, key = publisher.key, extra: Record<string, unknown> = {}) {
      const res = await t.api('/__api__/v1/content', { method: 'POST', key, json: { name, ...extra } });
      assert.equal(res.status, 200, await res.clone().text());
      return json(res);
    }
    async function upload(guid: string, archive: Buffer<ArrayBuffer>, key = publisher.key) {
      const res = await t.api(`/__api__/v1/content/${guid}/bundles`, { method: 'POST', key, body: archive });
      assert.equal(res.status, 200, await res.clone().text());
      return (await json(res)).id as string;
    }
    async function deploy(guid: string, bundleId: string, key = publisher.key) {
      const { task_id } = await json(await t.api(`/__api__/v1/content/${guid}/deploy`, { method: 'POST', key, json: { bundle_id: bundleId } }));
      return waitForTask(t, task_id, key);
    }

    test("server_settings lists each usable image's installations with cluster and image", async () => {
      const body = await json(await t.api('/__api__/v1/server_settings/python', { key: publisher.key }));
      assert.equal(body.api_enabled, true);
      assert.deepEqual(
        body.installations,
        [
          { version: PYTHON_VERSION, cluster_name: 'Kubernetes', image_name: 'lectern.test/python:a' },
          { version: PYTHON_VERSION, cluster_name: 'Kubernetes', image_name: 'lectern.test/python:exact' },
          { version: '3.8.18', cluster_name: 'Kubernetes', image_name: 'lectern.test/python:old' },
        ],
        'matching: none is left out',
      );
      const r = await json(await t.api('/__api__/v1/server_settings/r', { key: publisher.key }));
      assert.deepEqual(r.installations, [{ version: '4.4.1', cluster_name: 'Kubernetes', image_name: 'lectern.test/r:4.4' }]);
      assert.deepEqual((await json(await t.api('/__api__/v1/server_settings/quarto', { key: publisher.key }))).installations, []);
      const settings = await json(await t.api('/__api__/server_settings', { key: null }));
      assert.equal(settings.execution_type, 'launcher-kubernetes', "content runs off-host (Connect's word, which Posit Publisher checks)");
      assert.equal(settings.license['enable-launcher'], true);
      // The runtimes some image has (the environments of every publisher, as server_settings is anonymous).
      assert.deepEqual(settings.runtimes, ['R', 'Python']);
    });

    test('the explain endpoint names the chosen image and why each other one was passed over', async () => {
      const item = await content('oh-explain');
      await expectError(await t.api(`/__api__/v1/content/${item.guid}/image-selection`, { key: publisher.key }), 400, 28, /no deployed bundle/);
      const bundleId = await upload(item.guid, pythonBundle(PYTHON_VERSION));
      const res = await t.api(`/__api__/v1/content/${item.guid}/image-selection?bundle_id=${bundleId}`, { key: publisher.key });
      const body = await json(res);
      assert.equal(res.status, 200);
      assert.equal(body.source, 'automatic');
      assert.equal(body.chosen.name, 'lectern.test/python:a');
      assert.deepEqual(body.chosen.installations, { python: { version: PYTHON_VERSION, path: PYTHON } });
      assert.equal(body.error, null);
      assert.deepEqual(body.requested.python, PYTHON_VERSION);
      const reasons = Object.fromEntries(body.rejected.map((r: { name: string; reason: string }) => [r.name, r.reason]));
      assert.deepEqual(Object.keys(reasons).sort(), ['lectern.test/python:disabled', 'lectern.test/python:exact', 'lectern.test/python:old', 'lectern.test/r:4.4']);
      assert.match(reasons['lectern.test/python:exact'], /matching: exact/);
      assert.match(reasons['lectern.test/python:disabled'], /matching: none/);
      assert.match(reasons['lectern.test/python:old'], /has no Python matching/);
      assert.equal(reasons['lectern.test/r:4.4'], 'has no Python installation');

      // The manifest can target an exact-matching image.
      const targeted = await upload(item.guid, pythonBundle(PYTHON_VERSION, { environment: { image: 'lectern.test/python:exact' } }));
      const explained = await json(await t.api(`/__api__/v1/content/${item.guid}/image-selection?bundle_id=${targeted}`, { key: publisher.key }));
      assert.equal(explained.source, 'manifest');
      assert.equal(explained.chosen.name, 'lectern.test/python:exact');

      const staticItem = await content('oh-static');
      const staticBundle = await upload(
        staticItem.guid,
        makeTarGz([
          { name: 'manifest.json', content: JSON.stringify({ version: 1, metadata: { appmode: 'static', primary_html: 'index.html' }, files: { 'index.html': {} } }) },
          { name: 'index.html', content: '<p>hi</p>' },
        ]),
      );
      const staticAnswer = await json(await t.api(`/__api__/v1/content/${staticItem.guid}/image-selection?bundle_id=${staticBundle}`, { key: publisher.key }));
      assert.equal(staticAnswer.chosen, null);
      assert.match(staticAnswer.note, /runs no process/);

      await expectError(await t.api(`/__api__/v1/content/${item.guid}/image-selection?bundle_id=99999`, { key: publisher.key }), 404, 28, /does not exist/);
      await expectError(await t.api(`/__api__/v1/content/${item.guid}/image-selection?bundle_id=abc`, { key: publisher.key }), 400, 25, /bundle_id/);
      assert.equal((await t.api(`/__api__/v1/content/${item.guid}/image-selection`, { key: outsider.key })).status, 404, 'others cannot see the content');
    });

    test('a restricted image is not chosen for publishers who may not use it', async () => {
      const env = (await json(await t.api('/__api__/v1/environments'))).find((e: { name: string }) => e.name === 'lectern.test/python:a');
      const permission = await json(await t.api(`/__api__/v1/environments/${env.guid}/permissions`, { method: 'POST', json: { user_guid: publisher.guid } }));
      try {
        const item = await content('oh-outsider-app', outsider.key);
        const bundleId = await upload(item.guid, pythonBundle(PYTHON_VERSION), outsider.key);
        const body = await json(await t.api(`/__api__/v1/content/${item.guid}/image-selection?bundle_id=${bundleId}`, { key: outsider.key }));
        assert.equal(body.chosen, null);
        assert.match(body.error, new RegExp(`needs Python ${PYTHON_VERSION.replace(/\./g, '\\.')}\\. Images considered: lectern\\.test/python:a, `));
        assert.equal(body.rejected.find((r: { name: string }) => r.name === 'lectern.test/python:a').reason, "the content's owner oh-outsider may not use it");
        const listed = await json(await t.api('/__api__/v1/server_settings/python', { key: outsider.key }));
        assert.ok(!listed.installations.some((i: { image_name: string }) => i.image_name === 'lectern.test/python:a'));
      } finally {
        await t.api(`/__api__/v1/environments/${env.guid}/permissions/${permission.guid}`, { method: 'DELETE' });
      }
    });

    test('no matching image fails the deploy, naming the versions wanted and the images considered; the live version is unchanged', async () => {
      const item = await content('oh-nomatch');
      const bundleId = await upload(item.guid, pythonBundle('3.99.1'));
      const task = await waitForTask(
        t,
        (await json(await t.api(`/__api__/v1/content/${item.guid}/deploy`, { method: 'POST', key: publisher.key, json: { bundle_id: bundleId } }))).task_id,
        publisher.key,
      );
      assert.notEqual(task.code, 0);
      assert.equal(
        task.error,
        'No execution environment can run this bundle, which needs Python 3.99.1. Images considered: lectern.test/python:a, lectern.test/python:disabled, lectern.test/python:exact, lectern.test/python:old, lectern.test/r:4.4.',
      );
      const after = await json(await t.api(`/__api__/v1/content/${item.guid}`, { key: publisher.key }));
      assert.equal(after.bundle_id, null);
      assert.equal(after.image_name, null);

      const named = await upload(item.guid, pythonBundle(PYTHON_VERSION, { environment: { image: 'lectern.test/python:missing' } }));
      const failed = await deploy(item.guid, named);
      assert.match(failed.error, /^The bundle's manifest \(environment\.image\) names image lectern\.test\/python:missing, but it is not an execution environment of this server/);
    });

    test('a deploy runs in the selected image and records it; changing default_image_name rebuilds in the new image', async () => {
      const item = await content('oh-deploy');
      assert.equal((await t.api(`/__api__/v1/content/${item.guid}`, { method: 'PATCH', json: { service_account_name: 'reports-reader' } })).status, 200);
      assert.equal((await t.api(`/__api__/v1/content/${item.guid}`, { method: 'PATCH', key: publisher.key, json: { cpu_request: 0.5, cpu_limit: 2, nvidia_gpu_limit: 1 } })).status, 200);
      const bundleId = await upload(item.guid, pythonBundle(PYTHON_VERSION));
      const task = await deploy(item.guid, bundleId);
      assert.equal(task.code, 0, `${task.error}\n${task.output.join('\n')}`);
      assert.ok(
        task.output.some((l) => l === `Execution environment: lectern.test/python:a (closest compatible installations: Python ${PYTHON_VERSION} for ${PYTHON_VERSION}).`),
        task.output.join('\n'),
      );
      let live = await json(await t.api(`/__api__/v1/content/${item.guid}`, { key: publisher.key }));
      assert.equal(live.image_name, 'lectern.test/python:a');
      assert.equal(live.cluster_name, 'Kubernetes');
      assert.equal(live.py_version, PYTHON_VERSION);
      const served = await fetch(`${t.url}/content/${item.guid}/`, { headers: { authorization: `Key ${publisher.key}` } });
      assert.equal(served.status, 200);
      const jobs = await json(await t.api(`/__api__/v1/content/${item.guid}/jobs`, { key: publisher.key }));
      assert.ok(jobs.length >= 2);
      for (const job of jobs) assert.deepEqual([job.cluster, job.image], ['Kubernetes', 'lectern.test/python:a'], JSON.stringify(job));
      // What the Kubernetes backend gets: the image, the interpreter inside it, the service account
      // and the resources (content values, else the [Scheduler] defaults).
      const mine = specs.filter((s) => s.contentGuid === item.guid);
      assert.deepEqual(
        mine.map((s) => s.tag),
        ['python_restore', 'run_python_api'],
      );
      for (const spec of mine) {
        assert.equal(spec.image, 'lectern.test/python:a');
        assert.equal(spec.serviceAccount, 'reports-reader');
        assert.deepEqual(
          {
            cpuRequest: spec.resources.cpuRequest,
            cpuLimit: spec.resources.cpuLimit,
            memoryRequestBytes: spec.resources.memoryRequestBytes,
            nvidiaGpuLimit: spec.resources.nvidiaGpuLimit,
            amdGpuLimit: spec.resources.amdGpuLimit,
          },
          { cpuRequest: 0.5, cpuLimit: 2, memoryRequestBytes: 128 * 1024 ** 2, nvidiaGpuLimit: 1, amdGpuLimit: undefined },
        );
      }
      assert.equal(mine[0]!.command[0], PYTHON, "the restore runs the image's interpreter");
      assert.match(mine[1]!.command[0]!, /\/envs\/python\/[0-9a-f]{24}\/bin\/python$/, 'the worker runs the restored environment');

      // Another image for the same interpreter: the environment is rebuilt there, not reused.
      const second = await json(await t.api('/__api__/v1/environments', { method: 'POST', json: local('b') }));
      await expectError(
        await t.api(`/__api__/v1/content/${item.guid}`, { method: 'PATCH', key: publisher.key, json: { default_image_name: 'lectern.test/python:nope' } }),
        400,
        25,
        /nope is not an execution environment/,
      );
      await expectError(
        await t.api(`/__api__/v1/content/${item.guid}`, { method: 'PATCH', key: publisher.key, json: { default_image_name: 'lectern.test/r:4.4' } }),
        400,
        25,
        /^default_image_name: The content's default_image_name names image lectern\.test\/r:4\.4, but it has no Python installation/,
      );
      const patched = await t.api(`/__api__/v1/content/${item.guid}`, { method: 'PATCH', key: publisher.key, json: { default_image_name: second.name } });
      assert.equal(patched.status, 200, await patched.clone().text());
      assert.equal((await json(patched)).default_image_name, 'lectern.test/python:b');
      live = await until(
        'the rebuild to go live',
        async () => {
          const c = await json(await t.api(`/__api__/v1/content/${item.guid}`, { key: publisher.key }));
          return c.image_name === 'lectern.test/python:b' ? c : undefined;
        },
        60_000,
      );
      assert.equal(live.bundle_id, bundleId, 'same bundle, new image');
      assert.equal(live.environment_guid, second.guid);
      const refused = await expectError(await t.api(`/__api__/v1/environments/${second.guid}`, { method: 'DELETE' }), 409, 21, /lectern\.test\/python:b is in use by 1 content item/);
      assert.deepEqual(refused.payload.content_guids, [item.guid]);
      const after = await json(await t.api(`/__api__/v1/content/${item.guid}/jobs`, { key: publisher.key }));
      const rebuilt = after.filter((j: { image: string; tag: string }) => j.image === 'lectern.test/python:b');
      const newEnv = specs.filter((s) => s.contentGuid === item.guid && s.image === 'lectern.test/python:b').find((s) => s.tag === 'run_python_api')!;
      assert.notEqual(newEnv.command[0], mine[1]!.command[0], 'the environment cache key includes the image');
      assert.deepEqual(rebuilt.map((j: { tag: string }) => j.tag).sort(), ['python_restore', 'run_python_api'], 'restored again in the new image, then a worker there');
      assert.equal((await fetch(`${t.url}/content/${item.guid}/`, { headers: { authorization: `Key ${publisher.key}` } })).status, 200);
      const audit = await auditActions(t);
      assert.ok(
        audit.some((a) => a.includes(`rebuilding bundle ${bundleId} in lectern.test/python:b`)),
        audit.join('\n'),
      );
    });

    test('resource fields over a [Scheduler] maximum are refused naming the limit; nothing changes', async () => {
      const item = await content('oh-limits');
      const cases: Array<[Record<string, unknown>, RegExp, string]> = [
        [{ cpu_request: 2.5 }, /cpu_request \(2\.5\) is above this server's limit of 2 \(\[Scheduler\] MaxCPURequest\)/, 'Scheduler.MaxCPURequest'],
        [{ cpu_limit: 8 }, /cpu_limit \(8\) is above this server's limit of 4 \(\[Scheduler\] MaxCPULimit\)/, 'Scheduler.MaxCPULimit'],
        [{ memory_request: 2 * 1024 ** 3 }, /memory_request \(2147483648\) is above this server's limit of 1073741824 \(\[Scheduler\] MaxMemoryRequest\)/, 'Scheduler.MaxMemoryRequest'],
        [{ memory_limit: 3 * 1024 ** 3 }, /\[Scheduler\] MaxMemoryLimit/, 'Scheduler.MaxMemoryLimit'],
        [{ nvidia_gpu_limit: 2 }, /nvidia_gpu_limit \(2\) is above this server's limit of 1 \(\[Scheduler\] MaxNvidiaGPULimit\)/, 'Scheduler.MaxNvidiaGPULimit'],
        [{ amd_gpu_limit: 1 }, /amd_gpu_limit \(1\) is above this server's limit of 0 \(\[Scheduler\] MaxAMDGPULimit\): this server gives content none/, 'Scheduler.MaxAMDGPULimit'],
      ];
      for (const [body, message, limit] of cases) {
        const error = await expectError(await t.api(`/__api__/v1/content/${item.guid}`, { method: 'PATCH', key: publisher.key, json: body }), 400, 25, message);
        assert.equal(error.payload.limit, limit);
      }
      await expectError(
        await t.api(`/__api__/v1/content/${item.guid}`, { method: 'PATCH', key: publisher.key, json: { cpu_request: 2, cpu_limit: 1 } }),
        400,
        25,
        /cpu_request \(2\) cannot be greater than cpu_limit \(1\)/,
      );
      await expectError(await t.api(`/__api__/v1/content/${item.guid}`, { method: 'PATCH', key: publisher.key, json: { cpu_limit: -1 } }), 400, 25, /non-negative/);
      const unchanged = await json(await t.api(`/__api__/v1/content/${item.guid}`, { key: publisher.key }));
      assert.deepEqual([unchanged.cpu_request, unchanged.cpu_limit, unchanged.memory_request, unchanged.nvidia_gpu_limit, unchanged.amd_gpu_limit], [null, null, null, null, null]);
      const ok = await json(
        await t.api(`/__api__/v1/content/${item.guid}`, {
          method: 'PATCH',
          key: publisher.key,
          json: { cpu_request: 0.5, cpu_limit: 2, memory_request: 512 * 1024 ** 2, memory_limit: 1024 ** 3, nvidia_gpu_limit: 1 },
        }),
      );
      assert.deepEqual([ok.cpu_request, ok.cpu_limit, ok.memory_request, ok.memory_limit, ok.nvidia_gpu_limit], [0.5, 2, 512 * 1024 ** 2, 1024 ** 3, 1]);
    });

    test('only administrators set service_account_name, and it must be a Kubernetes name', async () => {
      const item = await content('oh-sa');
      await expectError(
        await t.api(`/__api__/v1/content/${item.guid}`, { method: 'PATCH', key: publisher.key, json: { service_account_name: 'reports' } }),
        403,
        22,
        /Only administrators can set service_account_name/,
      );
      await expectError(await t.api('/__api__/v1/content', { method: 'POST', key: publisher.key, json: { name: 'oh-sa-2', service_account_name: 'reports' } }), 403, 22, /Only administrators/);
      await expectError(await t.api(`/__api__/v1/content/${item.guid}`, { method: 'PATCH', json: { service_account_name: 'Not_Valid' } }), 400, 25, /not a Kubernetes service account name/);
      const set = await json(await t.api(`/__api__/v1/content/${item.guid}`, { method: 'PATCH', json: { service_account_name: 'reports-reader' } }));
      assert.equal(set.service_account_name, 'reports-reader');
      // The owner may send the unchanged value back (clients PATCH whole objects).
      assert.equal((await t.api(`/__api__/v1/content/${item.guid}`, { method: 'PATCH', key: publisher.key, json: { title: 'x', service_account_name: 'reports-reader' } })).status, 200);
      const cleared = await json(await t.api(`/__api__/v1/content/${item.guid}`, { method: 'PATCH', json: { service_account_name: '' } }));
      assert.equal(cleared.service_account_name, null);
    });
  };
}

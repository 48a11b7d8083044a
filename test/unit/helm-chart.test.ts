import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { LECTERN_VERSION } from '../../src/app.js';
import { Config } from '../../src/config/config.js';
import { SETTINGS } from '../../src/config/settings.js';
import { parseEnvironmentsFile } from '../../src/execution-environments/definition-files.js';
import { CHART, find, helm, type KubeObject, renderChart } from '../support/helm.js';
import { gcfgText, podSpec, refusal, restrictedViolations, server, settingsOf, workload } from '../support/helm-objects.js';
import { LAUNCHER_SETTINGS, LECTERN_ROLE_RULES } from '../support/launcher-contract.js';

// deploy/helm/lectern with the real Helm (scripts/deps/helm.sh): lint, then `helm template` with
// several value sets, checking the rendered objects — the Role equals the launcher's, the server pod
// passes Pod Security "restricted", the gcfg it renders is one Lectern reads, and impossible value
// combinations are refused with the value to change.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const POSTGRES = { replicas: 2, database: { provider: 'postgres', postgres: { existingSecret: 'lectern-db', existingSecretKey: 'url' } } };

describe('Helm chart deploy/helm/lectern', () => {
  let example: unknown[];
  before(async () => {
    example = parseYaml(await readFile(path.join(ROOT, 'deploy', 'environments.yaml'), 'utf8')) as unknown[];
  });

  test('helm lint passes with the default values and with several replicas on PostgreSQL behind an Ingress', async () => {
    const out = await helm(['lint', '--strict', CHART]);
    assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    const full = await helm(['lint', '--strict', CHART], {
      ...POSTGRES,
      ingress: { enabled: true, className: 'nginx', hosts: [{ host: 'lectern.example.org', paths: ['/'] }], tls: [{ secretName: 'tls', hosts: ['lectern.example.org'] }] },
      executionEnvironments: example,
    });
    assert.match(full, /0 chart\(s\) failed/);
  });

  test("the chart's appVersion is Lectern's version, so the server and init images it defaults to match the server", async () => {
    const chart = parseYaml(await readFile(path.join(CHART, 'Chart.yaml'), 'utf8')) as { appVersion: string };
    const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(chart.appVersion, pkg.version);
    assert.equal(chart.appVersion, LECTERN_VERSION);
    const objects = await renderChart();
    assert.equal(server(objects).image, `ghcr.io/lectern-project/lectern:${LECTERN_VERSION}`);
    assert.deepEqual(settingsOf(objects)['Launcher.InitContainerImage'], [`ghcr.io/lectern-project/lectern-runtime-init:${LECTERN_VERSION}`]);
  });

  test('default values: one server (StatefulSet) on SQLite with its claim, config, environments, accounts and the Role', async () => {
    const objects = await renderChart();
    const kinds = objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
    assert.deepEqual(kinds, [
      'ConfigMap/lectern-config',
      'ConfigMap/lectern-environments',
      'NetworkPolicy/lectern',
      'NetworkPolicy/lectern-content',
      'PersistentVolumeClaim/lectern-data',
      'Pod/lectern-test',
      'Role/lectern',
      'RoleBinding/lectern',
      'Service/lectern',
      'Service/lectern-headless',
      'ServiceAccount/lectern',
      'ServiceAccount/lectern-content',
      'StatefulSet/lectern',
    ]);
    for (const o of objects) assert.equal(o.metadata.namespace, 'lectern', `${o.kind}/${o.metadata.name} namespace`);
    const sts = find(objects, 'StatefulSet') as KubeObject & { spec: { replicas: number; serviceName: string } };
    assert.equal(sts.spec.replicas, 1);
    assert.equal(sts.spec.serviceName, 'lectern-headless');
    const pvc = find(objects, 'PersistentVolumeClaim') as KubeObject & { spec: { accessModes: string[] } };
    assert.deepEqual(pvc.spec.accessModes, ['ReadWriteMany']);
    assert.equal(pvc.metadata.annotations?.['helm.sh/resource-policy'], 'keep');
    const content = find(objects, 'ServiceAccount', 'lectern-content');
    assert.equal(content.automountServiceAccountToken, false, 'content pods get no API token by default');
    assert.equal(
      server(objects).env?.some((e) => e.name === 'LECTERN_POSTGRES_URL'),
      false,
    );
  });

  test("the Role is exactly the launcher's, in the jobs namespace, bound to the server's account", async () => {
    for (const [values, jobs] of [
      [{}, 'lectern'],
      [{ launcher: { namespace: 'lectern-jobs', dataClaimName: 'lectern-data-jobs' } }, 'lectern-jobs'],
    ] as const) {
      const objects = await renderChart(values);
      const role = find(objects, 'Role') as KubeObject & { rules: unknown[] };
      assert.equal(role.metadata.namespace, jobs);
      assert.deepEqual(role.rules, LECTERN_ROLE_RULES);
      const binding = find(objects, 'RoleBinding') as KubeObject & { roleRef: Record<string, string>; subjects: Record<string, string>[] };
      assert.equal(binding.metadata.namespace, jobs);
      assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name });
      assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'lectern', namespace: 'lectern' }]);
      assert.equal(podSpec(objects).serviceAccountName, 'lectern');
      assert.equal(find(objects, 'ServiceAccount', 'lectern-content').metadata.namespace, jobs);
      assert.equal(find(objects, 'StatefulSet').metadata.namespace, 'lectern');
      const settings = settingsOf(objects);
      assert.deepEqual(settings['Launcher.KubernetesNamespace'], [jobs]);
      assert.deepEqual(settings['Launcher.DataDirPVCName'], [jobs === 'lectern' ? 'lectern-data' : 'lectern-data-jobs']);
    }
    const objects = await renderChart({ launcher: { rbac: { create: false }, contentServiceAccount: { create: false } } });
    assert.ok(!objects.some((o) => o.kind === 'Role' || o.kind === 'RoleBinding' || (o.kind === 'ServiceAccount' && o.metadata.name === 'lectern-content')));
    assert.equal(settingsOf(objects)['Launcher.DefaultServiceAccount'], undefined);
  });

  test('the server pod passes Pod Security "restricted" and runs as the image\'s non-root user', async () => {
    for (const values of [{}, POSTGRES, { kind: 'Deployment' }]) {
      const spec = podSpec(await renderChart(values));
      assert.deepEqual(restrictedViolations(spec), []);
      assert.equal(spec.securityContext?.runAsUser, 999, 'deploy/images/server/Dockerfile runs as 999');
      assert.equal(spec.securityContext?.fsGroup, 999);
      assert.equal(spec.containers[0]!.securityContext?.readOnlyRootFilesystem, true);
    }
    // NFS straight into the pod is not a restricted volume type: the chart allows it, the docs say so.
    const nfs = podSpec(await renderChart({ storage: { nfs: { server: 'nfs.example.org', path: '/export/lectern' } } }));
    assert.deepEqual(restrictedViolations(nfs), ['volume data uses nfs']);
  });

  test("the gcfg is one Lectern reads: known settings, valid values, and paths that match the pod's mounts", async () => {
    const objects = await renderChart({
      address: 'https://lectern.example.org/',
      storage: { subPath: 'lectern' },
      config: { Scheduler: { MaxProcesses: 5 }, Bundles: { MaxUploadSize: 4294967296 }, Launcher: { ImagePullSecrets: ['regcred', 'other'], JobTTL: '30m' } },
    });
    const settings = settingsOf(objects);
    const known = new Set<string>([...Object.keys(SETTINGS), ...LAUNCHER_SETTINGS]);
    for (const key of Object.keys(settings)) assert.ok(known.has(key), `[${key.replace('.', '] ')} is not a Lectern setting`);
    // Everything this branch's settings table knows loads with Lectern's own Config (values parse).
    const dir = await mkdtemp(path.join(os.tmpdir(), 'lectern-gcfg-'));
    try {
      const file = path.join(dir, 'lectern.gcfg');
      const lines = gcfgText(objects).split('\n');
      let section = '';
      const kept = lines.filter((line) => {
        const header = /^\[(\w+)\]$/.exec(line.trim());
        if (header) section = header[1]!;
        const key = /^(\w+) =/.exec(line.trim())?.[1];
        return !key || Object.hasOwn(SETTINGS, `${section}.${key}`);
      });
      await writeFile(file, kept.join('\n'));
      const config = Config.load({ file, env: {} });
      assert.equal(config.get('Launcher.Enabled'), true);
      assert.equal(config.get('Launcher.Kubernetes'), true);
      assert.equal(config.get('Database.Provider'), 'sqlite');
      assert.equal(config.get('Scheduler.MaxProcesses'), 5);
      assert.equal(config.get('Bundles.MaxUploadSize'), 4294967296, 'large numbers are written as integers');
      assert.equal(config.get('Server.Address'), 'https://lectern.example.org/');
      assert.equal(config.listenAddress().port, 3939);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    assert.deepEqual(settings['Launcher.ImagePullSecrets'], ['regcred', 'other'], 'a list repeats the key');
    assert.deepEqual(settings['Launcher.JobTTL'], ['30m']);
    assert.deepEqual(settings['Launcher.InitContainerImage'], ['ghcr.io/lectern-project/lectern-runtime-init:0.1.0']);
    assert.deepEqual(settings['Launcher.DataDirPVCSubPath'], ['lectern']);
    assert.deepEqual(settings['Launcher.DefaultServiceAccount'], ['lectern-content']);
    assert.deepEqual(settings['Launcher.InstanceName'], ['lectern']);

    const spec = podSpec(objects);
    const c = server(objects);
    const mount = (name: string) => c.volumeMounts!.find((m) => m.name === name)!;
    // [Server] DataDir is the data volume's mount, at the sub-path content pods get too.
    assert.deepEqual(settings['Server.DataDir'], [mount('data').mountPath]);
    assert.equal(mount('data').subPath, 'lectern');
    assert.equal((spec.volumes.find((v) => v.name === 'data')!.persistentVolumeClaim as { claimName: string }).claimName, settings['Launcher.DataDirPVCName']![0]);
    // --config names the ConfigMap's file.
    const configPath = c.args![c.args!.indexOf('--config') + 1]!;
    assert.deepEqual(c.args, ['start', '--config', configPath]);
    assert.equal(mount('config').mountPath, configPath);
    assert.equal(mount('config').subPath, path.basename(configPath));
    // The environments file is in a directory mount (no subPath: the kubelet's updates must reach it).
    const envFile = settings['ExecutionEnvironments.ConfigFilePath']![0]!;
    assert.equal(mount('environments').mountPath, path.dirname(envFile));
    assert.equal(mount('environments').subPath, undefined);
    assert.equal((spec.volumes.find((v) => v.name === 'environments')!.configMap as { name: string }).name, 'lectern-environments');
    assert.ok(path.basename(envFile) in (find(objects, 'ConfigMap', 'lectern-environments').data as object));
    // The replica name follows the pod's name.
    assert.deepEqual(c.env!.find((e) => e.name === 'LECTERN_SERVER_REPLICANAME')!.valueFrom, { fieldRef: { fieldPath: 'metadata.name' } });
  });

  test("execution environments render into a file Lectern's parser reads back unchanged, outside the pod checksum", async () => {
    const empty = await renderChart();
    const emptyFile = (find(empty, 'ConfigMap', 'lectern-environments').data as Record<string, string>)['environments.yaml']!;
    assert.deepEqual(parseEnvironmentsFile(emptyFile, 'environments.yaml'), []);
    const objects = await renderChart({ executionEnvironments: example });
    const text = (find(objects, 'ConfigMap', 'lectern-environments').data as Record<string, string>)['environments.yaml']!;
    const expected = parseEnvironmentsFile(await readFile(path.join(ROOT, 'deploy', 'environments.yaml'), 'utf8'), 'deploy/environments.yaml');
    assert.deepEqual(parseEnvironmentsFile(text, 'environments.yaml'), expected);
    const checksum = (o: KubeObject[]) => (workload(o).spec as { template: { metadata: { annotations: Record<string, string> } } }).template.metadata.annotations['checksum/config'];
    assert.equal(checksum(objects), checksum(empty), 'editing environments does not restart Lectern');
    assert.notEqual(checksum(await renderChart({ config: { Scheduler: { MaxProcesses: 5 } } })), checksum(empty), 'a settings change rolls the pods');
  });

  test('several replicas on PostgreSQL: the URL comes from a Secret, never from the ConfigMap', async () => {
    const objects = await renderChart(POSTGRES);
    assert.equal((workload(objects).spec as { replicas: number }).replicas, 2);
    assert.deepEqual(settingsOf(objects)['Database.Provider'], ['postgres']);
    assert.deepEqual(server(objects).env!.find((e) => e.name === 'LECTERN_POSTGRES_URL')!.valueFrom, { secretKeyRef: { name: 'lectern-db', key: 'url' } });
    assert.ok(!objects.some((o) => o.kind === 'Secret'), 'an existing Secret is used as is');
    const url = 'postgres://lectern:s3cret@db.example.org/lectern';
    const own = await renderChart({ replicas: 3, database: { provider: 'postgres', postgres: { url } } });
    const secret = find(own, 'Secret', 'lectern-postgres') as KubeObject & { stringData: Record<string, string> };
    assert.deepEqual(secret.stringData, { url });
    assert.deepEqual(server(own).env!.find((e) => e.name === 'LECTERN_POSTGRES_URL')!.valueFrom, { secretKeyRef: { name: 'lectern-postgres', key: 'url' } });
    assert.ok(!gcfgText(own).includes('s3cret'));
  });

  test('refuses what cannot work, naming the value to change', async () => {
    assert.match(await refusal({ replicas: 2 }), /replicas: 2 needs PostgreSQL: SQLite is the database of a single server\. Set database\.provider: postgres/);
    assert.match(await refusal({ database: { provider: 'postgres' } }), /database\.provider: postgres needs the database's URL: set database\.postgres\.existingSecret/);
    assert.match(await refusal({ database: { provider: 'mysql' } }), /database\.provider must be sqlite or postgres, got "mysql"/);
    assert.match(await refusal({ database: { provider: 'postgres', postgres: { url: 'postgres://x/y', existingSecret: 's' } } }), /not both/);
    assert.match(await refusal({ kind: 'DaemonSet' }), /kind must be StatefulSet or Deployment/);
    assert.match(await refusal({ storage: { create: false } }), /needs a data volume: set storage\.create: true, storage\.existingClaim or storage\.nfs/);
    assert.match(await refusal({ storage: { existingClaim: 'c', nfs: { server: 'n', path: '/e' } } }), /storage\.existingClaim or storage\.nfs, not both/);
    assert.match(await refusal({ storage: { nfs: { server: 'n' } } }), /storage\.nfs needs both server and path/);
    assert.match(await refusal({ storage: { subPath: '../up' } }), /storage\.subPath must be a relative path inside the volume/);
    assert.match(await refusal({ launcher: { namespace: 'jobs' } }), /content pods run in namespace "jobs", where the release's claim "lectern-data" does not exist/);
    assert.match(await refusal({ runAsUser: 0 }), /must not be 0/);
    assert.match(await refusal({ config: { Server: { DataDir: '/elsewhere' } } }), /config\.Server\.DataDir is set by the chart: use storage instead/);
    assert.match(await refusal({ config: { Launcher: { Enabled: false } } }), /config\.Launcher\.Enabled is set by the chart/);
    assert.match(await refusal({ config: { Scheduler: 5 } }), /config\.Scheduler must be a map of settings/);
    // values.schema.json: misspelt and mistyped values are refused before any template runs.
    assert.match(await refusal({ replica: 2 }), /additional properties 'replica' not allowed/);
    assert.match(await refusal({ storage: { size: 10 } }), /at '\/storage\/size': got number, want string/);
    // YAML's 3.10 is the number 3.1 by the time a template sees it: Lectern would register Python 3.1.
    assert.match(
      await refusal({ executionEnvironments: [{ name: 'ghcr.io/acme/py:3.10', python: { installations: [{ path: '/opt/python/3.10/bin/python', version: 3.1 }] } }] }),
      /executionEnvironments\[0\] \(ghcr\.io\/acme\/py:3\.10\): python version 3\.1 must be quoted/,
    );
  });

  test('Deployment, existing claim, NFS and Ingress variants', async () => {
    const deployment = await renderChart({ kind: 'Deployment', storage: { existingClaim: 'shared' } });
    assert.ok(!deployment.some((o) => o.metadata.name === 'lectern-headless' || o.kind === 'PersistentVolumeClaim'));
    // Two servers must never open one SQLite file: the old pod goes before the new one starts.
    assert.deepEqual((find(deployment, 'Deployment').spec as { strategy: unknown }).strategy, { type: 'Recreate' });
    const onPostgres = find(await renderChart({ ...POSTGRES, kind: 'Deployment' }), 'Deployment').spec as { strategy: unknown };
    assert.deepEqual(onPostgres.strategy, { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
    const sts = find(await renderChart(), 'StatefulSet').spec as { updateStrategy: unknown; strategy?: unknown };
    assert.deepEqual(sts.updateStrategy, { type: 'RollingUpdate' }, 'a StatefulSet replaces pod 0 only after it is gone: its default is kept');
    assert.equal(sts.strategy, undefined);
    assert.deepEqual(settingsOf(deployment)['Launcher.DataDirPVCName'], ['shared']);

    const nfs = await renderChart({ storage: { nfs: { server: 'nfs.example.org', path: '/export/lectern/' } }, launcher: { namespace: 'jobs' } });
    assert.ok(!nfs.some((o) => o.kind === 'PersistentVolumeClaim'));
    assert.deepEqual(podSpec(nfs).volumes.find((v) => v.name === 'data')!.nfs, { server: 'nfs.example.org', path: '/export/lectern/' });
    assert.deepEqual(settingsOf(nfs)['Launcher.DataDir'], ['nfs.example.org:/export/lectern']);
    assert.equal(settingsOf(nfs)['Launcher.DataDirPVCName'], undefined);

    const ingress = find(await renderChart({ ingress: { enabled: true, className: 'nginx', hosts: [{ host: 'lectern.example.org', paths: ['/'] }] } }), 'Ingress') as KubeObject & {
      spec: { ingressClassName: string; rules: { host: string; http: { paths: { backend: unknown }[] } }[] };
    };
    assert.equal(ingress.spec.ingressClassName, 'nginx');
    assert.equal(ingress.spec.rules[0]!.host, 'lectern.example.org');
    assert.deepEqual(ingress.spec.rules[0]!.http.paths[0]!.backend, { service: { name: 'lectern', port: { name: 'http' } } });
  });
});

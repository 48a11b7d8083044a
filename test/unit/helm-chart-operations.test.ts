import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { LECTERN_VERSION } from '../../src/app.js';
import { parseBytes } from '../../src/config/config.js';
import { initImage } from '../../src/launcher/kubernetes/start.js';
import { CHART, find, helm, type KubeObject, renderChart } from '../support/helm.js';
import { type PodSpec, podSpec, refusal, restrictedViolations, server, settingsOf, workload } from '../support/helm-objects.js';

// What running the chart for real needs besides Lectern's settings: surviving drains (budget,
// spreading), uploads and websockets through ingress-nginx, pods that roll when what Lectern reads
// at start-up changes, digests, the usual chart conventions, the server pod's extras, and helm test.

const POSTGRES = { replicas: 3, database: { provider: 'postgres', postgres: { existingSecret: 'lectern-db' } } };
const DIGEST = `sha256:${'ab12'.repeat(16)}`;
const run = promisify(execFile);

type Template = { metadata: { labels: Record<string, string>; annotations: Record<string, string> }; spec: PodSpec & { affinity?: unknown; topologySpreadConstraints?: unknown[] } };
const template = (objects: KubeObject[]) => (workload(objects).spec as { template: Template }).template;
const ingressAnnotations = async (values: Record<string, unknown>) => find(await renderChart({ ingress: { enabled: true, className: 'nginx', ...values } }), 'Ingress').metadata.annotations ?? {};

describe('Helm chart: operations', () => {
  test('helm lint --strict passes with every new value set', async () => {
    const out = await helm(['lint', '--strict', CHART], {
      ...POSTGRES,
      kind: 'Deployment',
      nameOverride: 'docs',
      image: { digest: DIGEST },
      initImage: { digest: DIGEST },
      ingress: { enabled: true, className: 'nginx', nginx: { proxyBodySize: '4g', proxyTimeoutSeconds: 600 } },
      extraVolumes: [{ name: 'ca', configMap: { name: 'corp-ca' } }],
      extraVolumeMounts: [{ name: 'ca', mountPath: '/etc/ssl/corp', readOnly: true }],
      sidecars: [{ name: 'shipper', image: 'fluent-bit:3' }],
      initContainers: [{ name: 'migrate-check', image: 'busybox:1', command: ['true'] }],
      extraObjects: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: '{{ .Release.Name }}-extra' }, data: { a: 'b' } }],
      networkPolicy: { serverFrom: [{ podSelector: {} }] },
      podDisruptionBudget: { maxUnavailable: '50%' },
      launcher: { contentPod: { nodeSelector: { pool: 'content' } } },
    });
    assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  test('several replicas: a PodDisruptionBudget and soft spreading over nodes and zones; one replica: neither', async () => {
    const objects = await renderChart(POSTGRES);
    const labels = template(objects).metadata.labels;
    const pdb = find(objects, 'PodDisruptionBudget') as KubeObject & { spec: { maxUnavailable: number; selector: { matchLabels: Record<string, string> } } };
    assert.equal(pdb.spec.maxUnavailable, 1);
    assert.deepEqual(pdb.spec.selector, (workload(objects).spec as { selector: unknown }).selector, 'the budget covers exactly the servers');
    const spec = template(objects).spec;
    assert.deepEqual(spec.affinity, {
      podAntiAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: pdb.spec.selector.matchLabels } } }],
      },
    });
    assert.deepEqual(spec.topologySpreadConstraints, [
      { maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: pdb.spec.selector.matchLabels } },
    ]);
    for (const [k, v] of Object.entries(pdb.spec.selector.matchLabels)) assert.equal(labels[k], v);

    const single = await renderChart();
    assert.ok(!single.some((o) => o.kind === 'PodDisruptionBudget'), 'one replica: a budget could only block drains');
    assert.equal(template(single).spec.affinity, undefined);
    const own = template(await renderChart({ ...POSTGRES, affinity: { nodeAffinity: { x: 1 } }, topologySpreadConstraints: [{ maxSkew: 2 }] })).spec;
    assert.deepEqual(own.affinity, { nodeAffinity: { x: 1 } }, "the administrator's affinity replaces the default");
    assert.deepEqual(own.topologySpreadConstraints, [{ maxSkew: 2 }]);
    const off = await renderChart({ ...POSTGRES, spreadReplicas: false, podDisruptionBudget: { create: false } });
    assert.equal(template(off).spec.affinity, undefined);
    assert.ok(!off.some((o) => o.kind === 'PodDisruptionBudget'));
  });

  test('ingress-nginx lets through every bundle Lectern accepts, and keeps idle websockets open', async () => {
    const defaults = await ingressAnnotations({});
    assert.equal(defaults['nginx.ingress.kubernetes.io/proxy-body-size'], String(parseBytes('2GiB')), "Lectern's default [Bundles] MaxUploadSize");
    assert.equal(defaults['nginx.ingress.kubernetes.io/proxy-read-timeout'], '3600');
    assert.equal(defaults['nginx.ingress.kubernetes.io/proxy-send-timeout'], '3600');
    assert.equal(defaults['nginx.ingress.kubernetes.io/proxy-request-buffering'], 'off');
    // The same bytes Lectern's own parser reads from config.Bundles.MaxUploadSize.
    for (const size of ['4GiB', '500MB', '1.5g', '750 mib', '10kb', '123']) {
      const a = find(await renderChart({ ingress: { enabled: true }, config: { Bundles: { MaxUploadSize: size } } }), 'Ingress').metadata.annotations!;
      assert.equal(a['nginx.ingress.kubernetes.io/proxy-body-size'], String(parseBytes(size)), size);
    }
    const numeric = find(await renderChart({ ingress: { enabled: true }, config: { Bundles: { MaxUploadSize: 5000000000 } } }), 'Ingress').metadata.annotations!;
    assert.equal(numeric['nginx.ingress.kubernetes.io/proxy-body-size'], '5000000000');
    assert.equal((await ingressAnnotations({ nginx: { proxyBodySize: '1g', proxyTimeoutSeconds: 90 } }))['nginx.ingress.kubernetes.io/proxy-read-timeout'], '90');
    const mine = await ingressAnnotations({ annotations: { 'nginx.ingress.kubernetes.io/proxy-body-size': '8g', 'cert-manager.io/cluster-issuer': 'le' } });
    assert.equal(mine['nginx.ingress.kubernetes.io/proxy-body-size'], '8g', "the administrator's annotations win");
    assert.equal(mine['cert-manager.io/cluster-issuer'], 'le');
    assert.deepEqual(await ingressAnnotations({ nginx: { enabled: false } }), {});
    assert.match(await refusal({ ingress: { enabled: true }, config: { Bundles: { MaxUploadSize: '2 parsecs' } } }), /config\.Bundles\.MaxUploadSize: "2 parsecs" has an unknown unit/);
  });

  test('the servers roll when the settings, the base Job or the chart-made database Secret change', async () => {
    const url = (u: string) => ({ ...POSTGRES, database: { provider: 'postgres', postgres: { url: u } } });
    const a = template(await renderChart(url('postgres://a@db/lectern'))).metadata.annotations;
    const b = template(await renderChart(url('postgres://b@db/lectern'))).metadata.annotations;
    assert.ok(a['checksum/postgres']);
    assert.notEqual(a['checksum/postgres'], b['checksum/postgres']);
    assert.equal(a['checksum/config'], b['checksum/config']);
    assert.equal(template(await renderChart(POSTGRES)).metadata.annotations['checksum/postgres'], undefined, "an existing Secret is not the chart's to watch");
  });

  test('a chart upgrade that changes nothing else rolls no server and no content pod', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'lectern-chart-'));
    try {
      const bumped = path.join(dir, 'lectern');
      await cp(CHART, bumped, { recursive: true });
      const chartYaml = path.join(bumped, 'Chart.yaml');
      await writeFile(chartYaml, (await readFile(chartYaml, 'utf8')).replace(/^version: .*$/m, 'version: 99.0.0'));
      const [before, after] = await Promise.all([renderChart(POSTGRES), renderChart(POSTGRES, 'lectern', 'lectern', bumped)]);
      assert.notEqual(workload(after).metadata.labels!['helm.sh/chart'], workload(before).metadata.labels!['helm.sh/chart'], 'the control: the chart version did change');
      assert.deepEqual(template(after), template(before));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('images pinned by digest: repository@digest wins over the tag, for the server, helm test and the init image', async () => {
    const objects = await renderChart({ image: { tag: 'ignored', digest: DIGEST }, initImage: { tag: 'ignored', digest: DIGEST } });
    assert.equal(server(objects).image, `ghcr.io/lectern-project/lectern@${DIGEST}`);
    assert.equal((find(objects, 'Pod', 'lectern-test').spec as PodSpec).containers[0]!.image, `ghcr.io/lectern-project/lectern@${DIGEST}`);
    const init = settingsOf(objects)['Launcher.InitContainerImage']![0]!;
    assert.equal(init, `ghcr.io/lectern-project/lectern-runtime-init@${DIGEST}`);
    assert.equal(initImage(init, LECTERN_VERSION), init, 'Lectern adds no tag to a pinned image');
    assert.match(await refusal({ image: { digest: 'sha256:short' } }), /at '\/image\/digest'/);
  });

  test('conventions: managed-by, helm.sh/chart and the instance on everything; name overrides', async () => {
    const objects = await renderChart({ ...POSTGRES, ingress: { enabled: true } });
    for (const o of objects) {
      const labels = o.metadata.labels ?? {};
      assert.equal(labels['app.kubernetes.io/managed-by'], 'Helm', `${o.kind}/${o.metadata.name}`);
      assert.equal(labels['app.kubernetes.io/instance'], 'lectern', `${o.kind}/${o.metadata.name}`);
      assert.match(labels['helm.sh/chart'] ?? '', /^lectern-\d+\.\d+\.\d+/, `${o.kind}/${o.metadata.name}`);
    }
    assert.equal(template(objects).metadata.labels['app.kubernetes.io/managed-by'], 'Helm', 'the pods too');
    const renamed = await renderChart({ nameOverride: 'docs' }, 'lectern', 'prod');
    assert.equal(workload(renamed).metadata.name, 'prod-docs');
    assert.equal(template(renamed).metadata.labels['app.kubernetes.io/name'], 'docs');
    const full = await renderChart({ fullnameOverride: 'publishing' }, 'lectern', 'prod');
    assert.deepEqual(
      full.map((o) => o.metadata.name).filter((n) => !n.startsWith('publishing')),
      [],
    );
    assert.deepEqual(settingsOf(full)['Launcher.DefaultServiceAccount'], ['publishing-content']);
    assert.deepEqual(settingsOf(full)['Launcher.InstanceName'], ['prod']);
  });

  test("the server pod's extra volumes, mounts, sidecars and init containers, and extraObjects rendered with tpl", async () => {
    const objects = await renderChart({
      extraVolumes: [{ name: 'ca', configMap: { name: '{{ include "lectern.fullname" . }}-ca' } }],
      extraVolumeMounts: [{ name: 'ca', mountPath: '/etc/ssl/corp', readOnly: true }],
      sidecars: [{ name: 'shipper', image: 'fluent-bit:3' }],
      initContainers: [{ name: 'wait', image: 'busybox:1', command: ['true'] }],
      extraObjects: [
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: '{{ .Release.Name }}-ca', namespace: '{{ .Release.Namespace }}' }, data: { 'ca.crt': 'x' } },
        'apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ include "lectern.fullname" . }}-oauth\nstringData:\n  id: x\n',
      ],
    });
    const spec = podSpec(objects);
    assert.deepEqual(
      spec.volumes.find((v) => v.name === 'ca'),
      { name: 'ca', configMap: { name: 'lectern-ca' } },
    );
    assert.ok(server(objects).volumeMounts!.some((m) => m.name === 'ca' && m.mountPath === '/etc/ssl/corp'));
    assert.deepEqual(
      spec.containers.map((c) => c.name),
      ['lectern', 'shipper'],
    );
    assert.deepEqual(
      spec.initContainers!.map((c) => c.name),
      ['wait'],
    );
    assert.equal(find(objects, 'ConfigMap', 'lectern-ca').metadata.namespace, 'lectern');
    assert.ok(find(objects, 'Secret', 'lectern-oauth'));
    assert.match(await refusal({ extraVolumes: [{ name: 'data', emptyDir: {} }] }), /extraVolumes: "data" is one of the server pod's own volumes/);
  });

  test('helm test: a restricted pod running the server image asks the Service for /__ping__ and /__api__/server_settings', async () => {
    const objects = await renderChart({ service: { port: 8081 } });
    const pod = find(objects, 'Pod', 'lectern-test') as KubeObject & { spec: PodSpec & { restartPolicy: string } };
    assert.equal(pod.metadata.annotations?.['helm.sh/hook'], 'test');
    assert.equal(pod.spec.restartPolicy, 'Never');
    assert.deepEqual(restrictedViolations(pod.spec), []);
    const check = pod.spec.containers[0]! as PodSpec['containers'][number] & { command: string[] };
    assert.equal(check.image, server(objects).image);
    assert.equal(check.env!.find((e) => e.name === 'LECTERN_URL')!.value, 'http://lectern.lectern.svc:8081');
    assert.equal(check.command[0], 'node');
    assert.ok(!(await renderChart({ tests: { enabled: false } })).some((o) => o.kind === 'Pod'));

    // The script itself, against a server that answers as Lectern does, then one that does not.
    const answers = new Map<string, number>([
      ['/__ping__', 200],
      ['/__api__/server_settings', 200],
    ]);
    const seen: string[] = [];
    const http = createServer((req, res) => {
      seen.push(req.url!);
      res.writeHead(answers.get(req.url!) ?? 404, { 'content-type': 'application/json' }).end('{}');
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    try {
      const env = { ...process.env, LECTERN_URL: `http://127.0.0.1:${(http.address() as AddressInfo).port}` };
      const { stdout } = await run(process.execPath, check.command.slice(1), { env, timeout: 20_000 });
      assert.match(stdout, /__ping__: 200/);
      assert.deepEqual(seen, ['/__ping__', '/__api__/server_settings']);
      answers.set('/__api__/server_settings', 503);
      const failed = await run(process.execPath, check.command.slice(1), { env, timeout: 20_000 }).then(
        () => assert.fail('the check passed against a server answering 503'),
        (err: { code?: number; stderr: string }) => err,
      );
      assert.notEqual(failed.code, 0);
      assert.match(failed.stderr, /server_settings answered 503/);
    } finally {
      await new Promise((resolve) => http.close(resolve));
    }
  });
});

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { LECTERN_VERSION } from '../../src/app.js';
import { buildJobManifests, type ManifestOptions, WORKER_PORT } from '../../src/launcher/kubernetes/job-manifest.js';
import { initImage, loadJobBase } from '../../src/launcher/kubernetes/start.js';
import type { JobSpec } from '../../src/launcher/launcher.js';
import { find, type KubeObject, renderChart } from '../support/helm.js';
import { type PodSpec, refusal, server, settingsOf, workload } from '../support/helm-objects.js';

// The chart's side of content pods: the base Job it renders for [Launcher] JobBase, read with
// Lectern's own loader and merged with Lectern's own manifest code, so what an administrator sets
// in launcher.contentPod is checked on the Job Lectern would really create; the NetworkPolicy's
// selectors checked against the labels that Job carries; two releases sharing one jobs namespace.

const JOBS = { namespace: 'lectern-jobs', dataClaimName: 'lectern-data-jobs' };

const SHAPED = {
  labels: { team: 'data-science' },
  annotations: { 'cluster-autoscaler.kubernetes.io/safe-to-evict': 'false' },
  nodeSelector: { 'nvidia.com/gpu.present': 'true' },
  tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
  affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 1, preference: { matchExpressions: [{ key: 'pool', operator: 'In', values: ['content'] }] } }] } },
  priorityClassName: 'content',
  securityContext: { fsGroup: 999, supplementalGroups: [5000] },
  resources: { requests: { 'ephemeral-storage': '1Gi' }, limits: { 'ephemeral-storage': '4Gi' } },
  volumes: [{ name: 'corp-ca', configMap: { name: 'corp-ca' } }],
  volumeMounts: [{ name: 'corp-ca', mountPath: '/etc/ssl/corp', readOnly: true }],
  env: [{ name: 'SSL_CERT_DIR', value: '/etc/ssl/corp' }],
  initContainers: [{ name: 'wait-for-proxy', image: 'busybox:1', command: ['true'] }],
  sidecars: [{ name: 'cloud-sql-proxy', image: 'gcr.io/cloud-sql-connectors/cloud-sql-proxy:2', args: ['--port=5432', 'proj:region:db'] }],
};

/** A worker Job spec as Lectern's scheduler would submit it, with paths under the chart's data dir. */
function workerSpec(dataDir: string): JobSpec {
  return {
    key: 'Wrk1',
    kind: 'run',
    tag: 'run_app',
    contentId: 7,
    contentGuid: 'guid-7',
    bundleId: 3,
    command: ['/opt/python/3.12/bin/python', '/usr/lib/lectern/runtime/python/lectern_run.py'],
    cwd: `${dataDir}/apps/7/3`,
    env: { LECTERN_APP: 'app.py' },
    mounts: [{ path: `${dataDir}/apps/7/3`, readOnly: true }],
    jobDir: `${dataDir}/jobs/7/Wrk1/home`,
    logPath: `${dataDir}/jobs/7/Wrk1/log.jsonl`,
    resources: { memoryLimitBytes: 512 * 1024 * 1024, cpuLimit: 1 },
    listen: true,
    image: 'ghcr.io/acme/content:py3.12',
  };
}

/** The Job Lectern would create for a worker with the settings and base Job this rendering gives. */
async function lecternJob(
  objects: KubeObject[],
): Promise<KubeObject & { spec: { template: { metadata: { labels: Record<string, string>; annotations: Record<string, string> }; spec: PodSpec & Record<string, unknown> } } }> {
  const settings = settingsOf(objects);
  const config = find(objects, 'ConfigMap', `${workload(objects).metadata.name}-config`).data as Record<string, string>;
  const basePath = settings['Launcher.JobBase']![0]!;
  // The server mounts the ConfigMap's key at exactly the path the setting names.
  const mount = server(objects).volumeMounts!.find((m) => m.mountPath === basePath);
  assert.ok(mount, `the server mounts nothing at [Launcher] JobBase = ${basePath}`);
  assert.equal(mount.name, 'config');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lectern-job-base-'));
  try {
    const file = path.join(dir, 'job-base.yaml');
    await writeFile(file, config[mount.subPath!]!);
    const dataDir = settings['Server.DataDir']![0]!;
    const options: ManifestOptions = {
      namespace: settings['Launcher.KubernetesNamespace']![0]!,
      instance: settings['Launcher.InstanceName']![0]!,
      replica: 'lectern-0',
      dataDir,
      dataVolume: { pvc: { claimName: settings['Launcher.DataDirPVCName']![0]!, subPath: '' } },
      runtimeDir: '/usr/lib/lectern/runtime',
      initImage: initImage(settings['Launcher.InitContainerImage']![0]!, LECTERN_VERSION),
      initPullPolicy: settings['Launcher.InitContainerPullPolicy']![0]!,
      runtimeDelivery: 'init-container',
      imagePullSecrets: [],
      serviceAccount: settings['Launcher.DefaultServiceAccount']?.[0] ?? 'default',
      ttlSeconds: 600,
      batchDeadlineSeconds: 7200,
      runAs: { uid: 999, gid: 999 },
      base: loadJobBase(file),
    };
    return buildJobManifests(workerSpec(dataDir), options).job as never;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

interface NetworkPolicy extends KubeObject {
  spec: {
    podSelector: { matchLabels: Record<string, string> };
    policyTypes: string[];
    ingress: {
      from?: { podSelector?: { matchLabels: Record<string, string> }; namespaceSelector?: { matchLabels: Record<string, string> } }[];
      ports: { protocol: string; port: number | string }[];
    }[];
  };
}

const selects = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);

describe('Helm chart: content pods, their NetworkPolicy, and releases sharing a jobs namespace', () => {
  test('launcher.contentPod shapes the Job Lectern creates, and Lectern keeps what it needs', async () => {
    const objects = await renderChart({ launcher: { ...JOBS, contentPod: SHAPED, jobBase: { spec: { template: { spec: { dnsConfig: { options: [{ name: 'ndots', value: '2' }] } } } } } } });
    const job = await lecternJob(objects);
    const pod = job.spec.template.spec;
    assert.deepEqual(pod.nodeSelector, SHAPED.nodeSelector);
    assert.deepEqual(pod.tolerations, SHAPED.tolerations);
    assert.deepEqual(pod.affinity, SHAPED.affinity);
    assert.equal(pod.priorityClassName, 'content');
    assert.deepEqual(pod.dnsConfig, { options: [{ name: 'ndots', value: '2' }] }, 'launcher.jobBase passes what contentPod does not cover');
    // Pod security: the administrator's groups, Lectern's identity.
    assert.deepEqual(pod.securityContext, { fsGroup: 999, supplementalGroups: [5000], runAsNonRoot: true, runAsUser: 999, runAsGroup: 999, seccompProfile: { type: 'RuntimeDefault' } });
    // Init containers: the administrator's, the sidecar (native, so a build's Job still completes), then Lectern's runtime copy.
    assert.deepEqual(
      pod.initContainers!.map((c) => [c.name, (c as { restartPolicy?: string }).restartPolicy]),
      [
        ['wait-for-proxy', undefined],
        ['cloud-sql-proxy', 'Always'],
        ['lectern-runtime', undefined],
      ],
    );
    assert.deepEqual(
      pod.containers.map((c) => c.name),
      ['content'],
    );
    const content = pod.containers[0]! as PodSpec['containers'][number] & { resources: Record<string, Record<string, string>>; command: string[] };
    assert.equal(content.image, 'ghcr.io/acme/content:py3.12');
    assert.equal(content.command[1], '/opt/lectern/runtime/python/lectern_run.py');
    // Resources: Lectern's limits (the content's own settings) with the administrator's ephemeral storage.
    assert.deepEqual(content.resources, { requests: { 'ephemeral-storage': '1Gi' }, limits: { 'ephemeral-storage': '4Gi', cpu: '1000m', memory: String(512 * 1024 * 1024) } });
    assert.ok(content.volumeMounts!.some((m) => m.name === 'corp-ca' && m.mountPath === '/etc/ssl/corp'));
    assert.ok(content.volumeMounts!.some((m) => m.name === 'lectern-runtime'));
    assert.ok(content.volumeMounts!.some((m) => m.name === 'lectern-data' && m.subPath === 'apps/7/3'));
    assert.deepEqual(
      content.env!.map((e) => e.name),
      ['SSL_CERT_DIR', 'LECTERN_HOST', 'LECTERN_PORT'],
    );
    assert.deepEqual(pod.volumes.map((v) => v.name).sort(), ['corp-ca', 'lectern-data', 'lectern-runtime', 'tmp']);
    // Labels: the chart's and the administrator's, with Lectern's own on top.
    const labels = job.spec.template.metadata.labels;
    assert.equal(labels.team, 'data-science');
    assert.equal(labels['app.kubernetes.io/component'], 'content');
    assert.equal(labels['app.kubernetes.io/managed-by'], 'lectern');
    assert.equal(labels['app.kubernetes.io/instance'], 'lectern', "content carries the release's instance label");
    assert.equal(job.metadata.labels!.team, 'data-science');
    assert.equal(job.spec.template.metadata.annotations['cluster-autoscaler.kubernetes.io/safe-to-evict'], 'false');
    assert.equal(job.spec.template.metadata.annotations['kubectl.kubernetes.io/default-container'], 'content');
  });

  test('the default base Job only labels content pods; changing contentPod rolls the servers', async () => {
    const plain = await renderChart();
    const job = await lecternJob(plain);
    const pod = job.spec.template.spec;
    assert.deepEqual(
      pod.initContainers!.map((c) => c.name),
      ['lectern-runtime'],
    );
    assert.deepEqual(
      pod.containers.map((c) => c.name),
      ['content'],
    );
    assert.equal(pod.nodeSelector, undefined);
    assert.equal(job.spec.template.metadata.labels['app.kubernetes.io/part-of'], 'lectern');
    const checksums = (o: KubeObject[]) => (workload(o).spec as { template: { metadata: { annotations: Record<string, string> } } }).template.metadata.annotations;
    const shaped = await renderChart({ launcher: { contentPod: { tolerations: SHAPED.tolerations } } });
    assert.notEqual(checksums(shaped)['checksum/job-base'], checksums(plain)['checksum/job-base'], 'Lectern reads the base Job at start-up only');
  });

  test('refuses content pod shapes that would collide with what Lectern adds', async () => {
    assert.match(await refusal({ launcher: { contentPod: { volumes: [{ name: 'tmp', emptyDir: {} }] } } }), /content pod volume "tmp": Lectern names its own volumes/);
    assert.match(await refusal({ launcher: { contentPod: { sidecars: [{ name: 'content', image: 'x' }] } } }), /init container or sidecar "content"/);
    assert.match(await refusal({ launcher: { jobBase: { kind: 'Deployment' } } }), /launcher\.jobBase must be a batch\/v1 Job \(kind: Job\), got kind "Deployment"/);
    assert.match(await refusal({ launcher: { jobBase: { metadata: {}, spek: {} } } }), /additional properties 'spek' not allowed/);
    assert.match(await refusal({ launcher: { contentPod: { nodeselector: {} } } }), /additional properties 'nodeselector' not allowed/);
    assert.match(await refusal({ launcher: { instanceName: 'not a label!' } }), /launcher\.instanceName "not a label!" must be a label value/);
    assert.match(await refusal({ launcher: { contentPod: { labels: { 'app.kubernetes.io/instance': 'x' } } } }), /app\.kubernetes\.io\/instance is Lectern's own label on content pods/);
    assert.match(await refusal({ launcher: { contentPod: { labels: { 'lectern.dev/kind': 'x' } } } }), /lectern\.dev\/kind is Lectern's own label/);
    assert.match(
      await refusal({ config: { Launcher: { DefaultServiceAccount: 'mine' } } }),
      /config\.Launcher\.DefaultServiceAccount is set by the chart while launcher\.contentServiceAccount\.create is true/,
    );
    assert.deepEqual(
      settingsOf(await renderChart({ launcher: { contentServiceAccount: { create: false } }, config: { Launcher: { DefaultServiceAccount: 'mine' } } }))['Launcher.DefaultServiceAccount'],
      ['mine'],
    );
    assert.match(await refusal({ config: { Launcher: { JobBase: '/etc/job.yaml' } } }), /config\.Launcher\.JobBase is set by the chart: use launcher\.contentPod or launcher\.jobBase instead/);
  });

  test("content pods accept only this release's servers, on the worker port; servers accept their HTTP port", async () => {
    for (const [values, jobsNamespace] of [
      [{}, 'lectern'],
      [{ launcher: JOBS }, JOBS.namespace],
    ] as const) {
      const objects = await renderChart(values);
      const job = await lecternJob(objects);
      const content = find(objects, 'NetworkPolicy', 'lectern-content') as NetworkPolicy;
      assert.equal(content.metadata.namespace, jobsNamespace);
      assert.ok(selects(content.spec.podSelector.matchLabels, job.spec.template.metadata.labels), "the policy selects the pods Lectern creates (by Lectern's own labels)");
      assert.deepEqual(content.spec.policyTypes, ['Ingress'], 'egress stays open: content reaches databases and package repositories');
      assert.equal(content.spec.ingress.length, 1);
      const [rule] = content.spec.ingress;
      assert.deepEqual(rule!.ports, [{ protocol: 'TCP', port: WORKER_PORT }]);
      const [peer] = rule!.from!;
      assert.deepEqual(peer!.namespaceSelector!.matchLabels, { 'kubernetes.io/metadata.name': 'lectern' });
      const serverLabels = (workload(objects).spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
      assert.ok(selects(peer!.podSelector!.matchLabels, serverLabels), 'the peer is the server pods');
      const testPod = find(objects, 'Pod', 'lectern-test');
      assert.ok(!selects(peer!.podSelector!.matchLabels, testPod.metadata.labels!), 'helm test reaches the servers, not content');
      assert.ok(!selects(content.spec.podSelector.matchLabels, serverLabels), 'the content policy does not apply to the servers');

      const servers = find(objects, 'NetworkPolicy', 'lectern') as NetworkPolicy;
      assert.equal(servers.metadata.namespace, 'lectern');
      assert.ok(selects(servers.spec.podSelector.matchLabels, serverLabels));
      assert.deepEqual(servers.spec.ingress, [{ ports: [{ protocol: 'TCP', port: 'http' }] }], 'anyone may reach the HTTP port by default');
    }
    const restricted = find(
      await renderChart({ networkPolicy: { serverFrom: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } }] } }),
      'NetworkPolicy',
      'lectern',
    ) as NetworkPolicy;
    assert.deepEqual(restricted.spec.ingress[0]!.from, [
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } },
      { podSelector: { matchLabels: { 'app.kubernetes.io/name': 'lectern', 'app.kubernetes.io/instance': 'lectern', 'app.kubernetes.io/component': 'test' } } },
    ]);
    assert.ok(!(await renderChart({ networkPolicy: { enabled: false } })).some((o) => o.kind === 'NetworkPolicy'));
  });

  test('two releases share one jobs namespace: distinct objects, instance names and content accounts', async () => {
    const release = (name: string) => renderChart({ launcher: { namespace: 'shared-jobs', dataClaimName: `${name}-data` } }, name, name);
    const [alpha, beta] = await Promise.all([release('alpha'), release('beta')]);
    const inJobs = (objects: KubeObject[]) => objects.filter((o) => o.metadata.namespace === 'shared-jobs').map((o) => `${o.kind}/${o.metadata.name}`);
    assert.deepEqual(inJobs(alpha).sort(), ['NetworkPolicy/alpha-lectern-content', 'Role/alpha-lectern', 'RoleBinding/alpha-lectern', 'ServiceAccount/alpha-lectern-content']);
    assert.equal(inJobs(alpha).filter((n) => inJobs(beta).includes(n)).length, 0, 'nothing in the jobs namespace is shared');
    for (const [name, objects] of [
      ['alpha', alpha],
      ['beta', beta],
    ] as const) {
      const settings = settingsOf(objects);
      assert.deepEqual(settings['Launcher.InstanceName'], [name], "the release name: content Jobs carry the release's app.kubernetes.io/instance");
      assert.deepEqual(settings['Launcher.DefaultServiceAccount'], [`${name}-lectern-content`]);
      assert.equal(find(objects, 'ServiceAccount', `${name}-lectern-content`).metadata.namespace, 'shared-jobs');
      const job = await lecternJob(objects);
      assert.equal(job.spec.template.metadata.labels['app.kubernetes.io/instance'], name);
      assert.equal(job.spec.template.spec.serviceAccountName, `${name}-lectern-content`);
      const other = find(name === 'alpha' ? beta : alpha, 'NetworkPolicy', `${name === 'alpha' ? 'beta' : 'alpha'}-lectern-content`) as NetworkPolicy;
      assert.ok(!selects(other.spec.podSelector.matchLabels, job.spec.template.metadata.labels), "one release's policy never selects the other's content");
    }
    // An instance name given explicitly, and a content account named by the administrator.
    const named = settingsOf(await renderChart({ launcher: { instanceName: 'docs', contentServiceAccount: { name: 'docs-content' } } }));
    assert.deepEqual(named['Launcher.InstanceName'], ['docs']);
    assert.deepEqual(named['Launcher.DefaultServiceAccount'], ['docs-content']);
  });
});

// The pure parts of the Kubernetes backend: Job manifests, the base-Job merge, the init image tag,
// settings parsing and the Role printed in docs/kubernetes.md.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { JobSpec } from '../../src/launcher/launcher.js';
import { buildJobManifests, jobName, labelValue, ManifestError, mergeUnder, type ManifestOptions } from '../../src/launcher/kubernetes/job-manifest.js';
import { exitReason, parseQuantity, podState } from '../../src/launcher/kubernetes/pod-state.js';
import { lecternRoleYaml } from '../../src/launcher/kubernetes/role.js';
import { initImage, KubernetesStartError, loadJobBase } from '../../src/launcher/kubernetes/start.js';

const options: ManifestOptions = {
  namespace: 'lectern',
  instance: 'lectern',
  replica: 'host:1234/x',
  dataDir: '/srv/lectern',
  dataVolume: { nfs: { server: 'nfs.example.org', path: '/export/lectern' } },
  runtimeDir: '/usr/lib/lectern/runtime',
  initImage: 'init:1',
  initPullPolicy: 'IfNotPresent',
  runtimeDelivery: 'init-container',
  imagePullSecrets: [],
  serviceAccount: 'default',
  ttlSeconds: 60,
  batchDeadlineSeconds: 600,
  runAs: { uid: 999, gid: 999 },
};

function spec(overrides: Partial<JobSpec> = {}): JobSpec {
  return {
    key: 'AbC123',
    kind: 'render',
    tag: 'build_jupyter',
    contentId: 1,
    contentGuid: 'guid',
    bundleId: 2,
    command: ['/usr/bin/python3', '/usr/lib/lectern/runtime/python/lectern_render.py'],
    cwd: '/srv/lectern/apps/1/2',
    env: { LECTERN_RUNTIME: '/usr/lib/lectern/runtime/python', TOKEN: 's3cret' },
    mounts: [
      { path: '/srv/lectern/apps/1/2', readOnly: true },
      { path: '/srv/lectern/output/1/9', readOnly: false },
      { path: '/usr/lib/python3', readOnly: true },
    ],
    jobDir: '/srv/lectern/jobs/1/AbC123/home',
    logPath: '/srv/lectern/jobs/1/AbC123/log.jsonl',
    resources: {},
    listen: false,
    image: 'content:1',
    ...overrides,
  };
}

describe('Kubernetes Job manifests', () => {
  it('delivers the runtime by an init container by default, or as an image volume', () => {
    const copied = buildJobManifests(spec(), options).job.spec.template.spec;
    assert.equal(copied.initContainers[0].name, 'lectern-runtime');
    assert.deepEqual(copied.volumes[0], { name: 'lectern-runtime', emptyDir: { sizeLimit: '64Mi' } });
    const mounted = buildJobManifests(spec(), { ...options, runtimeDelivery: 'image-volume' }).job.spec.template.spec;
    assert.equal(mounted.initContainers, undefined);
    assert.deepEqual(mounted.volumes[0], { name: 'lectern-runtime', image: { reference: 'init:1', pullPolicy: 'IfNotPresent' } });
    assert.deepEqual(mounted.containers[0].volumeMounts[0], { name: 'lectern-runtime', mountPath: '/opt/lectern/runtime', readOnly: true, subPath: 'lectern/runtime' });
  });

  it('names, labels and the runtime path', () => {
    assert.equal(jobName({ kind: 'run', key: 'AbC_1-x' }), 'lectern-run-abc-1-x');
    assert.equal(labelValue('host:1234/x'), 'host-1234-x');
    const { job, secret } = buildJobManifests(spec(), options);
    assert.equal(job.metadata.labels!['lectern.dev/replica'], 'host-1234-x');
    assert.equal(job.metadata.annotations!['lectern.dev/replica-name'], 'host:1234/x');
    assert.equal(job.spec.activeDeadlineSeconds, 600);
    const content = job.spec.template.spec.containers[0];
    assert.deepEqual(content.command, ['/usr/bin/python3', '/opt/lectern/runtime/python/lectern_render.py']);
    assert.equal((secret.stringData as Record<string, string>).LECTERN_RUNTIME, '/opt/lectern/runtime/python');
    assert.equal((secret.stringData as Record<string, string>).HOME, '/srv/lectern/jobs/1/AbC123/home');
    assert.deepEqual(job.spec.template.spec.volumes.at(-1), { name: 'lectern-data', nfs: { server: 'nfs.example.org', path: '/export/lectern' } });
    assert.deepEqual(
      content.volumeMounts.filter((m: { name: string }) => m.name === 'lectern-data').map((m: { subPath: string }) => m.subPath),
      ['apps/1/2', 'output/1/9', 'jobs/1/AbC123/home'],
    );
  });

  it("puts the process's CONNECT_API_KEY and every other variable in the Secret, never in the Job", () => {
    const { job, secret } = buildJobManifests(spec({ env: { CONNECT_API_KEY: 'process-key-0123', TOKEN: 's3cret' } }), options);
    const stringData = secret.stringData as Record<string, string>;
    assert.equal(stringData.CONNECT_API_KEY, 'process-key-0123');
    assert.equal(stringData.TOKEN, 's3cret');
    const text = JSON.stringify(job);
    assert.ok(!text.includes('process-key-0123') && !text.includes('s3cret'), text);
    assert.deepEqual(job.spec.template.spec.containers[0].envFrom, [{ secretRef: { name: secret.metadata.name } }]);
  });

  it('refuses what a cluster cannot run', () => {
    assert.throws(() => buildJobManifests(spec({ image: undefined }), options), ManifestError);
    assert.throws(() => buildJobManifests(spec(), { ...options, runAs: { uid: 0, gid: 0 } }), /never run as root/);
    assert.throws(() => buildJobManifests(spec({ mounts: [{ path: '/srv/lectern', readOnly: true }] }), options), /whole data directory/);
  });

  it("merges Lectern's fields over an administrator's base Job", () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'lectern-base-'));
    const file = path.join(dir, 'job.yaml');
    writeFileSync(
      file,
      [
        'apiVersion: batch/v1',
        'kind: Job',
        'metadata: { name: ignored, labels: { team: data }, annotations: { cost-center: "42" } }',
        'spec:',
        '  backoffLimit: 6',
        '  template:',
        '    spec:',
        '      terminationGracePeriodSeconds: 5',
        '      tolerations: [{ key: gpu, operator: Exists }]',
        '      containers:',
        '        - name: content',
        '          imagePullPolicy: Always',
        '          image: overridden',
        '        - name: sidecar',
        '          image: proxy:1',
        '      volumes: [{ name: extra, emptyDir: {} }]',
        '',
      ].join('\n'),
    );
    const { job } = buildJobManifests(spec(), { ...options, base: loadJobBase(file) });
    assert.equal(job.metadata.name, 'lectern-render-abc123');
    assert.equal(job.metadata.labels!.team, 'data');
    assert.equal(job.spec.backoffLimit, 0, "Lectern's required field wins");
    const pod = job.spec.template.spec;
    assert.equal(pod.terminationGracePeriodSeconds, 5);
    assert.deepEqual(pod.tolerations, [{ key: 'gpu', operator: 'Exists' }]);
    assert.deepEqual(
      pod.containers.map((c: { name: string }) => c.name),
      ['content', 'sidecar'],
    );
    assert.equal(pod.containers[0].image, 'content:1');
    assert.equal(pod.containers[0].imagePullPolicy, 'Always');
    assert.deepEqual(
      pod.volumes.map((v: { name: string }) => v.name),
      ['extra', 'lectern-runtime', 'tmp', 'lectern-data'],
    );

    writeFileSync(file, 'kind: Job\nspec: [unclosed\n');
    assert.throws(
      () => loadJobBase(file),
      (err: Error) => err instanceof KubernetesStartError && /job\.yaml:\d+:/.test(err.message),
    );
    writeFileSync(file, 'kind: Pod\n');
    assert.throws(() => loadJobBase(file), /must hold one batch\/v1 Job/);
    assert.deepEqual(mergeUnder([1, 2], [3]), [3]);
  });

  it("tags the init image with Lectern's version unless it has a tag or digest", () => {
    assert.equal(initImage('ghcr.io/lectern-project/lectern-runtime-init', '0.1.0'), 'ghcr.io/lectern-project/lectern-runtime-init:0.1.0');
    assert.equal(initImage('registry:5000/init', '0.1.0'), 'registry:5000/init:0.1.0');
    assert.equal(initImage('registry:5000/init:dev', '0.1.0'), 'registry:5000/init:dev');
    assert.equal(initImage('init@sha256:abc', '0.1.0'), 'init@sha256:abc');
  });

  it('reads pod states and quantities', () => {
    assert.equal(parseQuantity('512Mi'), 512 * 2 ** 20);
    assert.equal(parseQuantity('250m'), 0.25);
    assert.equal(parseQuantity('1G'), 1e9);
    const pod = (status: unknown) => ({ metadata: { name: 'p' }, spec: {}, status });
    assert.equal(
      podState(pod({ phase: 'Pending', containerStatuses: [{ name: 'content', state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "x"' } } }] })).failure?.reason,
      'ImagePullBackOff',
    );
    assert.equal(podState(pod({ phase: 'Pending', containerStatuses: [{ name: 'content', state: { waiting: { reason: 'ContainerCreating' } } }] })).failure, undefined);
    assert.equal(podState(pod({ conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/3 nodes' }] })).unschedulable?.message, '0/3 nodes');
    assert.match(exitReason({ exitCode: 137, reason: 'OOMKilled' }, 64 * 2 ** 20)!, /memory limit of 64 MiB/);
    assert.equal(exitReason({ exitCode: 0, reason: 'Completed' }), undefined);
  });

  it('docs/kubernetes.md prints the Role the code checks', () => {
    const doc = readFileSync(new URL('../../docs/kubernetes.md', import.meta.url), 'utf8');
    assert.ok(doc.includes('```yaml\n' + lecternRoleYaml() + '```'), 'docs/kubernetes.md: the Role block differs from role.ts (print lecternRoleYaml())');
  });
});

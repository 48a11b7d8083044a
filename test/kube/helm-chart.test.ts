// The Helm chart (deploy/helm/lectern) against a real kube-apiserver (docs/kube-testbed.md): what
// `helm template` renders is applied with server-side apply — dry-run for everything, for real for
// the accounts and RBAC — in namespaces that enforce Pod Security "restricted". Then the API server
// itself says whether the server pod is admitted and what Lectern's service account may do.
// Run: node --import tsx --test test/kube/helm-chart.test.ts
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Agent, fetch } from 'undici';
import { parse as parseYaml } from 'yaml';
import { renderChart, type KubeObject } from '../support/helm.js';
import { startControlPlane, type ControlPlane } from '../support/kube.js';
import { LECTERN_ROLE_RULES } from '../support/launcher-contract.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const RELEASE_NS = 'lectern';
const JOBS_NS = 'lectern-jobs';

/** Where each kind the chart renders lives in the API. */
const RESOURCES: Record<string, string> = {
  ServiceAccount: '/api/v1/namespaces/{ns}/serviceaccounts',
  ConfigMap: '/api/v1/namespaces/{ns}/configmaps',
  Secret: '/api/v1/namespaces/{ns}/secrets',
  Service: '/api/v1/namespaces/{ns}/services',
  PersistentVolumeClaim: '/api/v1/namespaces/{ns}/persistentvolumeclaims',
  Pod: '/api/v1/namespaces/{ns}/pods',
  StatefulSet: '/apis/apps/v1/namespaces/{ns}/statefulsets',
  Deployment: '/apis/apps/v1/namespaces/{ns}/deployments',
  Role: '/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles',
  RoleBinding: '/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings',
  Ingress: '/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses',
  NetworkPolicy: '/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies',
  PodDisruptionBudget: '/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets',
};

/** Server-side apply answers 201 when it creates the object, 200 when it updates it. */
const applied = (status: number) => status === 200 || status === 201;

describe('Helm chart on a real API server', { timeout: 20 * 60_000 }, () => {
  let cp: ControlPlane;
  let dispatcher: Agent;

  async function call(method: string, url: string, body?: unknown, contentType = 'application/json') {
    const res = await fetch(`${cp.url}${url}`, {
      method,
      dispatcher,
      headers: { authorization: `Bearer ${cp.token}`, accept: 'application/json', ...(body ? { 'content-type': contentType } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> & { message?: string }, warning: res.headers.get('warning') };
  }

  /** Server-side apply of one object, strict field validation; dry-run unless `persist`. */
  async function apply(object: KubeObject, persist = false) {
    const collection = RESOURCES[object.kind];
    assert.ok(collection, `the test has no API path for ${object.kind}`);
    const base = collection.replace('{ns}', object.metadata.namespace ?? RELEASE_NS);
    const query = `fieldManager=lectern-helm-test&fieldValidation=Strict&force=true${persist ? '' : '&dryRun=All'}`;
    return call('PATCH', `${base}/${encodeURIComponent(object.metadata.name)}?${query}`, object, 'application/apply-patch+yaml');
  }

  /** A pod as the chart's workload would create it (its template), for Pod Security admission. */
  function podOf(objects: KubeObject[], name: string): KubeObject {
    const workload = objects.find((o) => o.kind === 'StatefulSet' || o.kind === 'Deployment')!;
    const template = (workload.spec as { template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: unknown } }).template;
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: workload.metadata.namespace, labels: template.metadata.labels, annotations: template.metadata.annotations },
      spec: template.spec,
    };
  }

  let production: KubeObject[];

  before(async () => {
    cp = await startControlPlane();
    dispatcher = new Agent({ connect: { ca: await readFile(cp.caFile) } });
    for (const name of [RELEASE_NS, JOBS_NS]) {
      const labels = { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/warn': 'restricted' };
      const r = await call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
    const environments = parseYaml(await readFile(path.join(ROOT, 'deploy', 'environments.yaml'), 'utf8')) as unknown[];
    production = await renderChart(
      {
        replicas: 2,
        database: { provider: 'postgres', postgres: { url: 'postgres://lectern:secret@db.example.org/lectern' } },
        launcher: { namespace: JOBS_NS, dataClaimName: 'lectern-data' },
        ingress: { enabled: true, className: 'nginx', hosts: [{ host: 'lectern.example.org', paths: ['/'] }], tls: [{ secretName: 'lectern-tls', hosts: ['lectern.example.org'] }] },
        executionEnvironments: environments,
        config: { Scheduler: { MaxProcesses: 5 } },
      },
      RELEASE_NS,
    );
  });

  after(async () => {
    await dispatcher?.close();
    await cp?.stop();
  });

  it('every rendered object passes server-side apply (dry-run, strict field validation) with no Pod Security warning', async () => {
    for (const values of [production, await renderChart({}, RELEASE_NS), await renderChart({ kind: 'Deployment', storage: { existingClaim: 'shared' } }, RELEASE_NS)]) {
      for (const object of values) {
        const r = await apply(object);
        assert.ok(applied(r.status), `${object.kind}/${object.metadata.name}: ${r.status} ${r.body.message ?? JSON.stringify(r.body)}`);
        assert.equal(r.warning, null, `${object.kind}/${object.metadata.name}: ${r.warning}`);
      }
    }
  });

  it('the server pod is admitted where Pod Security "restricted" is enforced; an NFS data volume is not', async () => {
    // Admission needs the pod's service account to exist: apply the accounts for real.
    for (const object of production.filter((o) => o.kind === 'ServiceAccount')) assert.ok(applied((await apply(object, true)).status));
    const admitted = await call('POST', `/api/v1/namespaces/${RELEASE_NS}/pods?dryRun=All&fieldValidation=Strict`, podOf(production, 'lectern-0'));
    assert.equal(admitted.status, 201, admitted.body.message);
    // The control: the same check refuses what restricted forbids.
    const nfs = await renderChart({ storage: { nfs: { server: 'nfs.example.org', path: '/export/lectern' } } }, RELEASE_NS);
    const refused = await call('POST', `/api/v1/namespaces/${RELEASE_NS}/pods?dryRun=All`, podOf(nfs, 'lectern-0'));
    assert.equal(refused.status, 403);
    assert.match(refused.body.message ?? '', /violates PodSecurity "restricted:latest": restricted volume types \(volume "data" uses restricted volume type "nfs"\)/);
    // …and the workload itself draws the warning the first test checks is absent for the chart's defaults.
    const warned = await apply(nfs.find((o) => o.kind === 'StatefulSet')!);
    assert.match(warned.warning ?? '', /would violate PodSecurity \\"restricted:latest\\": restricted volume types/);
  });

  it("the Role and RoleBinding give Lectern's service account exactly the launcher's permissions in the jobs namespace", async () => {
    for (const object of production.filter((o) => o.kind === 'Role' || o.kind === 'RoleBinding')) {
      const r = await apply(object, true);
      assert.ok(applied(r.status), `${object.kind}: ${r.status} ${r.body.message}`);
    }
    const user = `system:serviceaccount:${RELEASE_NS}:lectern`;
    const allowed = async (namespace: string, group: string, resource: string, verb: string) => {
      const [plain, subresource] = resource.split('/');
      const r = await call('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user,
          groups: ['system:serviceaccounts', `system:serviceaccounts:${RELEASE_NS}`, 'system:authenticated'],
          resourceAttributes: { namespace, group, resource: plain, subresource, verb, name: plain === 'namespaces' ? namespace : undefined },
        },
      });
      assert.equal(r.status, 201, r.body.message);
      return (r.body.status as { allowed?: boolean }).allowed === true;
    };
    for (const rule of LECTERN_ROLE_RULES) {
      for (const resource of rule.resources) {
        for (const verb of rule.verbs) {
          assert.ok(await allowed(JOBS_NS, rule.apiGroups[0]!, resource, verb), `${verb} ${resource} in ${JOBS_NS}`);
          assert.ok(!(await allowed(RELEASE_NS, rule.apiGroups[0]!, resource, verb)), `${verb} ${resource} must not be granted in ${RELEASE_NS}`);
        }
      }
    }
    // Nothing beyond the Role: no reading Secrets, no exec, no deleting pods directly.
    for (const [group, resource, verb] of [
      ['', 'secrets', 'get'],
      ['', 'secrets', 'list'],
      ['', 'pods/exec', 'create'],
      ['', 'pods', 'delete'],
      ['', 'services', 'create'],
      ['batch', 'jobs', 'update'],
    ] as const) {
      assert.ok(!(await allowed(JOBS_NS, group, resource, verb)), `${verb} ${resource} must not be granted`);
    }
  });
});

// The permissions Lectern needs in its namespace: the single source for the start-up check, the Role
// printed in docs/kubernetes.md and the Role the tests run Lectern with.
import { KubeApiError, type KubeApi } from './kube-api.js';

export interface RoleRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  /** Why Lectern needs it (docs and the start-up message). */
  why: string;
  /** Lectern works without it (with less information); missing is a warning, not a stop. */
  optional?: boolean;
}

export const LECTERN_ROLE_RULES: RoleRule[] = [
  { apiGroups: [''], resources: ['namespaces'], verbs: ['get'], why: 'check at start-up that the namespace exists' },
  { apiGroups: ['batch'], resources: ['jobs'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'], why: 'one Job per process; the watch cache; start (unsuspend) and stop them' },
  { apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'], why: 'readiness, addresses, failure reasons and the processes table' },
  { apiGroups: [''], resources: ['pods/log'], verbs: ['get'], why: "stream each process's output into its job log" },
  { apiGroups: [''], resources: ['secrets'], verbs: ['create'], why: "each job's environment variables, owned by (and deleted with) its Job" },
  { apiGroups: [''], resources: ['serviceaccounts'], verbs: ['get'], why: "check a content's service account exists before starting its Job" },
  { apiGroups: [''], resources: ['events'], verbs: ['list'], why: "Kubernetes' own message when a pod cannot be scheduled, pulled or started" },
  { apiGroups: ['metrics.k8s.io'], resources: ['pods'], verbs: ['get', 'list'], why: 'CPU and memory of content pods in the processes table', optional: true },
];

/** The Role as a Kubernetes object (what an administrator applies, and what the tests bind). */
export function lecternRole(namespace: string, name = 'lectern') {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name, namespace },
    rules: LECTERN_ROLE_RULES.map(({ apiGroups, resources, verbs }) => ({ apiGroups, resources, verbs })),
  };
}

export interface AccessCheck {
  /** What is missing and required ("create batch/jobs"), in Role terms. */
  missing: string[];
  /** Missing but optional. */
  missingOptional: string[];
  namespaceExists: boolean | 'unknown';
}

/**
 * Asks the API server, with SelfSubjectAccessReview, whether Lectern's credentials may do each
 * thing it needs in `namespace`, and whether the namespace exists.
 */
export async function checkAccess(api: KubeApi, namespace: string): Promise<AccessCheck> {
  const checks = LECTERN_ROLE_RULES.flatMap((rule) =>
    rule.resources.flatMap((resource) =>
      rule.verbs.map((verb) => {
        const [plain, subresource] = resource.split('/');
        return { group: rule.apiGroups[0]!, resource: plain!, subresource, verb, optional: rule.optional === true };
      }),
    ),
  );
  const results = await Promise.all(
    checks.map(async (c) => {
      const review = await api.create<{ metadata: { name: string }; status?: { allowed?: boolean } }>('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        metadata: { name: '' },
        spec: {
          resourceAttributes: {
            namespace,
            group: c.group,
            resource: c.resource,
            subresource: c.subresource,
            verb: c.verb,
            name: c.resource === 'namespaces' ? namespace : undefined,
          },
        },
      });
      return { ...c, allowed: review.status?.allowed === true };
    }),
  );
  const describe = (c: (typeof results)[number]) => `${c.verb} ${c.group ? `${c.group}/` : ''}${c.resource}${c.subresource ? `/${c.subresource}` : ''}`;
  const missing = results.filter((r) => !r.allowed && !r.optional).map(describe);
  const missingOptional = results.filter((r) => !r.allowed && r.optional).map(describe);
  let namespaceExists: boolean | 'unknown' = 'unknown';
  try {
    await api.get(`/api/v1/namespaces/${encodeURIComponent(namespace)}`);
    namespaceExists = true;
  } catch (err) {
    if (!(err instanceof KubeApiError)) throw err;
    if (err.status === 404) namespaceExists = false;
  }
  return { missing, missingOptional, namespaceExists };
}

/** The start-up refusal: what is missing, and how to fix it. Undefined when all is well. */
export function accessProblem(check: AccessCheck, namespace: string, who: string): string | undefined {
  if (check.namespaceExists === false) {
    return `Kubernetes namespace "${namespace}" does not exist: create it (kubectl create namespace ${namespace}) and bind Lectern's Role there (docs/kubernetes.md), or set [Launcher] KubernetesNamespace.`;
  }
  if (!check.missing.length) return undefined;
  const total = LECTERN_ROLE_RULES.filter((r) => !r.optional).reduce((n, r) => n + r.resources.length * r.verbs.length, 0);
  const hint = check.missing.length === total ? ` ${who} has none of them: namespace "${namespace}" may not exist, or no Role is bound to ${who} there.` : '';
  return `Lectern may not do everything it needs in Kubernetes namespace "${namespace}". Missing permissions: ${check.missing.join(', ')}.${hint} Apply the Role in docs/kubernetes.md and bind it to ${who}.`;
}

/** The Role and its RoleBinding as YAML, as docs/kubernetes.md prints them (a unit test keeps them equal). */
export function lecternRoleYaml(namespace = 'lectern', subject = { kind: 'ServiceAccount', name: 'lectern', namespace: 'lectern' }): string {
  const role = lecternRole(namespace);
  const lines = ['apiVersion: rbac.authorization.k8s.io/v1', 'kind: Role', 'metadata:', `  name: ${role.metadata.name}`, `  namespace: ${namespace}`, 'rules:'];
  for (const rule of LECTERN_ROLE_RULES) {
    lines.push(`  # ${rule.why}${rule.optional ? ' (optional)' : ''}`);
    lines.push(`  - apiGroups: [${rule.apiGroups.map((g) => JSON.stringify(g)).join(', ')}]`);
    lines.push(`    resources: [${rule.resources.join(', ')}]`);
    lines.push(`    verbs: [${rule.verbs.join(', ')}]`);
  }
  lines.push(
    '---',
    'apiVersion: rbac.authorization.k8s.io/v1',
    'kind: RoleBinding',
    'metadata:',
    '  name: lectern',
    `  namespace: ${namespace}`,
    'roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: lectern }',
    'subjects:',
    `  - { kind: ${subject.kind}, name: ${subject.name}, namespace: ${subject.namespace} }`,
  );
  return lines.join('\n') + '\n';
}

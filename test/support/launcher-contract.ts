// What the deploy artifacts (deploy/images/init, the Helm chart) must agree on with the Kubernetes
// launcher backend. The backend lives on the kube-launcher branch (src/launcher/kubernetes/): its
// job-manifest.ts (INIT_IMAGE_RUNTIME_DIR, the init container's command), role.ts (LECTERN_ROLE_RULES,
// printed in docs/kubernetes.md) and the [Launcher] settings in src/config/settings.ts. Until that
// branch is merged these are copies, kept here only; once merged, re-export the originals instead
// so the tests follow the backend.

export const INIT_IMAGE_RUNTIME_DIR = '/lectern/runtime';
export const INIT_COMMAND = ['cp', '-R', `${INIT_IMAGE_RUNTIME_DIR}/.`, '/mnt/lectern-runtime/'];

export interface RoleRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/** docs/kubernetes.md "The Role" (kube-launcher branch). */
export const LECTERN_ROLE_RULES: RoleRule[] = [
  { apiGroups: [''], resources: ['namespaces'], verbs: ['get'] },
  { apiGroups: ['batch'], resources: ['jobs'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'] },
  { apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] },
  { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
  { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
  { apiGroups: [''], resources: ['serviceaccounts'], verbs: ['get'] },
  { apiGroups: [''], resources: ['events'], verbs: ['list'] },
  { apiGroups: ['metrics.k8s.io'], resources: ['pods'], verbs: ['get', 'list'] },
];

/** The [Launcher] settings the kube-launcher branch adds (beyond Enabled, Kubernetes, ClusterDefinition on main). */
export const LAUNCHER_SETTINGS = [
  'KubernetesAPIURL', 'KubernetesAuthToken', 'KubernetesCACertificate', 'KubernetesSkipTLSVerify', 'KubernetesNamespace',
  'InstanceName', 'DataDir', 'DataDirPVCName', 'DataDirPVCSubPath', 'InitContainerImage', 'InitContainerPullPolicy',
  'DefaultServiceAccount', 'ImagePullSecrets', 'JobBase', 'JobTTL', 'BatchDeadline', 'SchedulingTimeout',
].map((name) => `Launcher.${name}`);

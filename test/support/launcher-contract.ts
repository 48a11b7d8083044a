// What the deploy artifacts (deploy/images/init, the Helm chart) must agree on with the Kubernetes
// launcher backend (src/launcher/kubernetes/): the init image's runtime path and command, the Role
// (printed in docs/kubernetes.md) and the [Launcher] settings. Re-exported from the backend, so the
// deploy tests follow it.
import { SETTINGS } from '../../src/config/settings.js';
import { INIT_COMMAND, INIT_IMAGE_RUNTIME_DIR } from '../../src/launcher/kubernetes/job-manifest.js';
import { LECTERN_ROLE_RULES as RULES } from '../../src/launcher/kubernetes/role.js';

export { INIT_COMMAND, INIT_IMAGE_RUNTIME_DIR };

export interface RoleRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

export const LECTERN_ROLE_RULES: RoleRule[] = RULES.map(({ apiGroups, resources, verbs }) => ({ apiGroups, resources, verbs }));

/** The [Launcher] settings of the Kubernetes backend (beyond Enabled, Kubernetes, ClusterDefinition). */
export const LAUNCHER_SETTINGS = Object.keys(SETTINGS).filter((k) => k.startsWith('Launcher.') && !['Launcher.Enabled', 'Launcher.Kubernetes', 'Launcher.ClusterDefinition'].includes(k));

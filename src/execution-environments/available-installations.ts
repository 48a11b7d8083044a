// Which interpreter versions a publisher can deploy against (GET /__api__/v1/server_settings/{runtime}):
// locally, the interpreters probed at start-up; off-host, every installation of each execution
// environment the caller may use (disabled ones, matching: none, are left out), tagged with its image.
import type { Installation, RuntimeName } from '../contract/server-settings.js';
import type { User } from '../db/schema.js';
import { installationsOf, type ExecutionEnvironments } from './environments.js';
import type { Interpreters } from '../runtimes/interpreters.js';

export async function availableInstallations(
  services: { offHost: boolean; environments: ExecutionEnvironments; interpreters: Interpreters },
  runtime: RuntimeName,
  user: User,
): Promise<Installation[]> {
  if (services.offHost) {
    const installations: Installation[] = [];
    // Execution environments declare no Node.js installations.
    if (runtime === 'nodejs') return installations;
    for (const env of await services.environments.usableBy(user)) {
      if (env.matching === 'none') continue;
      for (const i of installationsOf(env)[runtime]) installations.push({ version: i.version, cluster_name: env.cluster_name, image_name: env.name });
    }
    return installations;
  }
  if (runtime === 'python' || runtime === 'r' || runtime === 'quarto') {
    return services.interpreters.of(runtime).map((i) => ({ version: i.version, cluster_name: 'Local', image_name: 'Local' }));
  }
  return [];
}

const RUNTIME_LABELS = { r: 'R', python: 'Python', quarto: 'Quarto' } as const;

/**
 * The runtimes content can use on this server, as `server_settings.runtimes` names them ("R",
 * "Python", "Quarto"): locally, those with a probed or discovered installation; off-host, those
 * some execution environment has. Not per caller: `server_settings` answers anonymously.
 */
export async function installedRuntimes(services: { offHost: boolean; environments: ExecutionEnvironments; interpreters: Interpreters }): Promise<string[]> {
  const kinds = Object.keys(RUNTIME_LABELS) as (keyof typeof RUNTIME_LABELS)[];
  if (services.offHost) {
    const rows = (await services.environments.all()).filter((e) => e.matching !== 'none').map(installationsOf);
    return kinds.filter((k) => rows.some((i) => i[k].length > 0)).map((k) => RUNTIME_LABELS[k]);
  }
  return kinds.filter((k) => services.interpreters.of(k).length > 0).map((k) => RUNTIME_LABELS[k]);
}

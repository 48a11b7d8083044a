import { readFile } from 'node:fs/promises';
import type { AuditLog } from '../audit/audit-log.js';
import { ConfigError } from '../config/config.js';
import { DefinitionFileError, parseClusterDefinition } from './definition-files.js';
import type { EnvironmentDefinition } from './definition.js';
import type { ExecutionEnvironments } from './environments.js';

/**
 * `[Launcher] ClusterDefinition`: seeds the environments table on the first start (as Connect
 * does); once any environment exists the files are not read, and the API owns what they created.
 * A broken file stops that first start with its file and line.
 */
export async function bootstrapExecutionEnvironments(files: readonly string[], environments: ExecutionEnvironments, audit: AuditLog, log: (msg: string) => void): Promise<void> {
  if (files.length === 0) return;
  if ((await environments.all()).length > 0) {
    log(
      `execution environments: the table is already populated, so [Launcher] ClusterDefinition (${files.join(', ')}) is not read; use the Environments API or [ExecutionEnvironments] ConfigFilePath`,
    );
    return;
  }
  const defs: EnvironmentDefinition[] = [];
  const origin = new Map<string, string>();
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`[Launcher] ClusterDefinition = ${file}: cannot read it: ${(err as Error).message}`);
    }
    let parsed: EnvironmentDefinition[];
    try {
      parsed = parseClusterDefinition(text, file);
    } catch (err) {
      if (err instanceof DefinitionFileError) throw new ConfigError(`[Launcher] ClusterDefinition ${err.message}`);
      throw err;
    }
    for (const def of parsed) {
      const first = origin.get(def.name);
      if (first) throw new ConfigError(`[Launcher] ClusterDefinition: image ${def.name} is defined in both ${first} and ${file}`);
      origin.set(def.name, file);
      defs.push(def);
    }
  }
  const created = await environments.bootstrap(defs);
  if (created.length) {
    log(`execution environments: created ${created.join(', ')} from ${files.join(', ')}`);
    await audit.record(null, 'add_environment', `Bootstrapped execution environments from ${files.join(', ')}: ${created.join(', ')}`);
  }
}

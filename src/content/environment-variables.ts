// Content's environment variables (Connect's /v1/content/{guid}/environment): names and sealed values,
// set by editors and given to the content's processes. Not execution environments (images,
// src/execution-environments/) nor restored environments (venvs, src/execution/restored-environments.ts).
import type { Store } from '../db/database.js';
import { badRequest, ErrorCode } from '../errors.js';
import type { SecretBox } from '../secrets/secret-box.js';

/** Where variables live: the database, and the box that seals their values at rest. */
export interface VariableStore {
  store: Store;
  secrets: SecretBox;
}

export interface VariableChange {
  name: string;
  /** null removes the variable. */
  value: string | null;
}

const NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Names the server sets for content processes; content cannot override them. */
const RESERVED_PREFIXES = ['CONNECT_', 'RSTUDIO_'];

/** Parses `[{name, value}]`; rejects bad names, reserved prefixes and names given twice (code 149). */
export function parseVariableChanges(body: unknown, allowNull: boolean): VariableChange[] {
  if (!Array.isArray(body)) throw badRequest('The request body must be a JSON array of {"name": ..., "value": ...} objects.', ErrorCode.CannotParseRequestBody);
  const seen = new Set<string>();
  const out: VariableChange[] = [];
  for (const item of body) {
    if (!item || typeof item !== 'object' || Array.isArray(item)) throw badRequest('Each environment variable must be an object {"name": ..., "value": ...}.', ErrorCode.CannotParseRequestBody);
    const { name, value } = item as { name?: unknown; value?: unknown };
    if (typeof name !== 'string' || name === '') throw badRequest('Each environment variable needs a "name".', ErrorCode.ParameterMissing);
    if (!NAME_PATTERN.test(name)) {
      throw badRequest(`Invalid environment variable name "${name}": use letters, digits and underscores, not starting with a digit.`, ErrorCode.InvalidParameter);
    }
    const reserved = RESERVED_PREFIXES.find((p) => name.toUpperCase().startsWith(p));
    if (reserved) throw badRequest(`Environment variable names starting with ${reserved} are reserved by the server: "${name}".`, ErrorCode.InvalidParameter);
    if (seen.has(name)) throw badRequest(`Environment variable "${name}" is given more than once.`, ErrorCode.DuplicateEnvironmentVariable);
    seen.add(name);
    if (value === null || value === undefined) {
      if (!allowNull) throw badRequest(`Environment variable "${name}" needs a string "value".`, ErrorCode.InvalidParameter);
      out.push({ name, value: null });
    } else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      out.push({ name, value: String(value) });
    } else {
      throw badRequest(`The value of environment variable "${name}" must be a string.`, ErrorCode.InvalidParameter);
    }
  }
  return out;
}

/** Sorted variable names of one content item. */
export async function variableNames(app: VariableStore, contentId: number): Promise<string[]> {
  const rows = await app.store.db.selectFrom('content_environment').select('name').where('content_id', '=', contentId).execute();
  return rows.map((r) => r.name).sort();
}

/** Applies changes (null value deletes); with `replace` every variable not listed is removed first. */
export async function updateVariables(app: VariableStore, contentId: number, changes: VariableChange[], replace: boolean): Promise<string[]> {
  await app.store.db.transaction().execute(async (trx) => {
    if (replace) await trx.deleteFrom('content_environment').where('content_id', '=', contentId).execute();
    for (const change of changes) {
      if (change.value === null) {
        await trx.deleteFrom('content_environment').where('content_id', '=', contentId).where('name', '=', change.name).execute();
        continue;
      }
      const sealed = app.secrets.seal(change.value);
      await trx
        .insertInto('content_environment')
        .values({ content_id: contentId, name: change.name, value_encrypted: sealed })
        .onConflict((oc) => oc.columns(['content_id', 'name']).doUpdateSet({ value_encrypted: sealed }))
        .execute();
    }
    await trx.updateTable('content').set((eb) => ({ env_version: eb('env_version', '+', 1) })).where('id', '=', contentId).execute();
  });
  return variableNames(app, contentId);
}

/**
 * Decrypted variables for starting a content process: what every content process is given
 * (src/app.ts hands this to ContentExecution), so the API tests read the same function.
 */
export async function contentEnvironment(from: VariableStore, contentId: number): Promise<Record<string, string>> {
  const rows = await from.store.db.selectFrom('content_environment').select(['name', 'value_encrypted']).where('content_id', '=', contentId).execute();
  const env: Record<string, string> = {};
  for (const r of rows) env[r.name] = from.secrets.open(r.value_encrypted);
  return env;
}

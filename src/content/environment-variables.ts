// Content's environment variables (Connect's /v1/content/{guid}/environment): names and sealed values,
// set by editors and given to the content's processes. Not execution environments (images,
// src/execution-environments/) nor restored environments (venvs, src/execution/restored-environments.ts).
import type { Kysely } from 'kysely';
import type { AuditLog } from '../audit/audit-log.js';
import type { Content, Database, User } from '../db/schema.js';
import { badRequest, ErrorCode } from '../errors.js';
import type { SecretBox } from '../secrets/secret-box.js';

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

/**
 * A content item's environment variables: sealed at rest, only their names are ever shown, and
 * a change restarts the item's running workers (they read variables only at start; posit-sdk's
 * restart() relies on this). Callers have checked the actor may change the item; every change is
 * recorded in the audit log.
 */
export class ContentVariables {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly secrets: SecretBox,
    private readonly audit: AuditLog,
    /** Replaces the item's running workers (Scheduler.refresh). */
    private readonly restartWorkers: (contentId: number) => Promise<void>,
  ) {}

  /** Sorted variable names of one content item. */
  async names(content: Pick<Content, 'id'>): Promise<string[]> {
    const rows = await this.db.selectFrom('content_environment').select('name').where('content_id', '=', content.id).execute();
    return rows.map((r) => r.name).sort();
  }

  /** Applies changes (null value deletes); with `replace` every variable not listed is removed first. Returns the names after. */
  async update(actor: User, content: Content, changes: VariableChange[], replace: boolean): Promise<string[]> {
    await this.db.transaction().execute(async (trx) => {
      if (replace) await trx.deleteFrom('content_environment').where('content_id', '=', content.id).execute();
      for (const change of changes) {
        if (change.value === null) {
          await trx.deleteFrom('content_environment').where('content_id', '=', content.id).where('name', '=', change.name).execute();
          continue;
        }
        const sealed = this.secrets.seal(change.value);
        await trx
          .insertInto('content_environment')
          .values({ content_id: content.id, name: change.name, value_encrypted: sealed })
          .onConflict((oc) => oc.columns(['content_id', 'name']).doUpdateSet({ value_encrypted: sealed }))
          .execute();
      }
      await trx
        .updateTable('content')
        .set((eb) => ({ env_version: eb('env_version', '+', 1) }))
        .where('id', '=', content.id)
        .execute();
    });
    const names = await this.names(content);
    await this.restartWorkers(content.id);
    const description = replace ? `Replaced environment of ${content.guid}: ${names.join(', ')}` : `Updated environment of ${content.guid}: ${changes.map((c) => c.name).join(', ')}`;
    await this.audit.record(actor, 'update_environment', description);
    return names;
  }

  /** Decrypted variables, for starting one of the item's processes. */
  async values(contentId: number): Promise<Record<string, string>> {
    const rows = await this.db.selectFrom('content_environment').select(['name', 'value_encrypted']).where('content_id', '=', contentId).execute();
    return Object.fromEntries(rows.map((r) => [r.name, this.secrets.open(r.value_encrypted)]));
  }
}

import type { Kysely, Transaction } from 'kysely';
import type { Database, EnvironmentPermissionRow, EnvironmentRow, User } from '../db/schema.js';
import { apiTime, newGuid, nowIso } from '../util/ids.js';
import { emptyInstallations, KUBERNETES, RUNTIMES, type EnvironmentDefinition, type Installations, type VolumeMount } from './definition.js';
import type { CandidateEnvironment } from './selection.js';

/** Who owns a record: the API (including what a ClusterDefinition bootstrapped) or the declarative file. */
export type Origin = EnvironmentRow['origin'];

export interface SyncResult {
  created: string[];
  updated: string[];
  removed: string[];
  /** API-created records the file now names: from now on the file owns them. */
  adopted: string[];
}

/** Execution environments: storage, who may use them, bootstrap and declarative sync. */
export class ExecutionEnvironments {
  constructor(
    private readonly db: Kysely<Database>,
    /** The user's guid and their groups' guids. */
    private readonly principalGuids: (user: User) => Promise<string[]>,
  ) {}

  async all(): Promise<EnvironmentRow[]> {
    return this.db.selectFrom('environments').selectAll().orderBy('name').execute();
  }

  async find(guid: string): Promise<EnvironmentRow | undefined> {
    return this.db.selectFrom('environments').selectAll().where('guid', '=', guid.toLowerCase()).executeTakeFirst();
  }

  async findByName(name: string): Promise<EnvironmentRow | undefined> {
    return this.db.selectFrom('environments').selectAll().where('name', '=', name).executeTakeFirst();
  }

  /** Every environment with whether `user` may use it: administrators use all; others unrestricted or granted ones. */
  async withUsability(user: User): Promise<Array<{ row: EnvironmentRow; usable: boolean }>> {
    const rows = await this.all();
    if (user.user_role === 'administrator') return rows.map((row) => ({ row, usable: true }));
    const grants = await this.db.selectFrom('environment_permissions').select(['environment_id', 'principal_guid']).execute();
    const mine = new Set(await this.principalGuids(user));
    const restricted = new Set(grants.map((g) => g.environment_id));
    const granted = new Set(grants.filter((g) => mine.has(g.principal_guid)).map((g) => g.environment_id));
    return rows.map((row) => ({ row, usable: !restricted.has(row.id) || granted.has(row.id) }));
  }

  async usableBy(user: User): Promise<EnvironmentRow[]> {
    return (await this.withUsability(user)).filter((e) => e.usable).map((e) => e.row);
  }

  async candidates(user: User): Promise<CandidateEnvironment[]> {
    return (await this.withUsability(user)).map(({ row, usable }) => ({
      guid: row.guid,
      name: row.name,
      title: row.title,
      matching: row.matching,
      installations: installationsOf(row),
      usable,
    }));
  }

  /** Content whose live bundle runs in one of these images. */
  async contentUsing(names: string[]): Promise<Array<{ guid: string; image_name: string | null }>> {
    if (names.length === 0) return [];
    return this.db.selectFrom('content').select(['guid', 'image_name']).where('image_name', 'in', names).orderBy('id').execute();
  }

  async create(def: EnvironmentDefinition, origin: Origin, managedBy: string | null = null, db: Kysely<Database> = this.db): Promise<EnvironmentRow> {
    const now = nowIso();
    return db
      .insertInto('environments')
      .values({ guid: newGuid(), ...columns(def), environment_type: KUBERNETES, origin, managed_by: managedBy, created_time: now, updated_time: now })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  async update(env: EnvironmentRow, def: EnvironmentDefinition, db: Kysely<Database> = this.db): Promise<EnvironmentRow> {
    return db.updateTable('environments').set({ ...columns(def), updated_time: nowIso() }).where('id', '=', env.id).returningAll().executeTakeFirstOrThrow();
  }

  async delete(env: EnvironmentRow): Promise<void> {
    await this.db.deleteFrom('environments').where('id', '=', env.id).execute();
  }

  async permissions(env: EnvironmentRow): Promise<EnvironmentPermissionRow[]> {
    return this.db.selectFrom('environment_permissions').selectAll().where('environment_id', '=', env.id).orderBy('id').execute();
  }

  async findPermission(env: EnvironmentRow, guid: string): Promise<EnvironmentPermissionRow | undefined> {
    return this.db.selectFrom('environment_permissions').selectAll().where('environment_id', '=', env.id).where('guid', '=', guid.toLowerCase()).executeTakeFirst();
  }

  async grant(env: EnvironmentRow, principal: { type: 'user' | 'group'; guid: string }): Promise<EnvironmentPermissionRow> {
    return this.db
      .insertInto('environment_permissions')
      .values({ guid: newGuid(), environment_id: env.id, principal_type: principal.type, principal_guid: principal.guid, created_time: nowIso() })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  async revoke(permission: EnvironmentPermissionRow): Promise<void> {
    await this.db.deleteFrom('environment_permissions').where('id', '=', permission.id).execute();
  }

  /**
   * ClusterDefinition files seed an empty table once (as Connect does); from then on the API owns
   * the records and the files are not read again. Returns the images created (none if the table
   * already had environments, e.g. another replica bootstrapped first).
   */
  async bootstrap(defs: EnvironmentDefinition[]): Promise<string[]> {
    if (defs.length === 0) return [];
    return this.db.transaction().execute(async (trx) => {
      const existing = await trx.selectFrom('environments').select('id').limit(1).executeTakeFirst();
      if (existing) return [];
      for (const def of defs) await this.create(def, 'cluster-definition', null, trx);
      return defs.map((d) => d.name);
    }).catch(async (err) => {
      // A replica starting at the same moment inserted the same images first.
      if ((await this.db.selectFrom('environments').select('id').limit(1).executeTakeFirst()) !== undefined) return [];
      throw err;
    });
  }

  /**
   * Makes the file-managed records match `defs` in one transaction: creates the new, updates the
   * changed, removes those the file no longer lists. Records created through the API are left
   * alone unless the file names their image, in which case the file takes them over.
   */
  async sync(defs: EnvironmentDefinition[], file: string): Promise<SyncResult> {
    return this.db.transaction().execute(async (trx) => {
      const result: SyncResult = { created: [], updated: [], removed: [], adopted: [] };
      const rows = await trx.selectFrom('environments').selectAll().execute();
      const byName = new Map(rows.map((r) => [r.name, r]));
      const wanted = new Set(defs.map((d) => d.name));
      for (const def of defs) {
        const row = byName.get(def.name);
        if (!row) {
          await this.create(def, 'file', file, trx as Transaction<Database>);
          result.created.push(def.name);
        } else if (row.origin !== 'file' || row.managed_by !== file) {
          await trx.updateTable('environments').set({ ...columns(def), origin: 'file', managed_by: file, updated_time: nowIso() }).where('id', '=', row.id).execute();
          (row.origin === 'file' ? result.updated : result.adopted).push(def.name);
        } else if (!sameDefinition(row, def)) {
          await this.update(row, def, trx);
          result.updated.push(def.name);
        }
      }
      for (const row of rows) {
        if (row.origin === 'file' && !wanted.has(row.name)) {
          await trx.deleteFrom('environments').where('id', '=', row.id).execute();
          result.removed.push(row.name);
        }
      }
      return result;
    });
  }
}

export function installationsOf(row: EnvironmentRow): Installations {
  return { ...emptyInstallations(), ...(JSON.parse(row.installations) as Partial<Installations>) };
}

/** The stored form of a definition, as an EnvironmentDefinition (for PUT merges and comparisons). */
export function definitionOf(row: EnvironmentRow): EnvironmentDefinition {
  return {
    title: row.title,
    description: row.description,
    cluster_name: row.cluster_name,
    name: row.name,
    matching: row.matching,
    supervisor: row.supervisor,
    installations: installationsOf(row),
    volume_mounts: JSON.parse(row.volume_mounts) as VolumeMount[],
  };
}

/** The stored definition in the API's field layout (python: {installations}, …), for PUT merges. */
export function definitionFields(row: EnvironmentRow): Record<string, unknown> {
  const { installations, ...rest } = definitionOf(row);
  return { ...rest, ...Object.fromEntries(RUNTIMES.map((r) => [r, { installations: installations[r] }])) };
}

/** Connect's Environment object. */
export function environmentJson(row: EnvironmentRow) {
  const installations = installationsOf(row);
  return {
    id: String(row.id),
    guid: row.guid,
    created_time: apiTime(row.created_time),
    updated_time: apiTime(row.updated_time),
    title: row.title,
    description: row.description,
    cluster_name: row.cluster_name,
    name: row.name,
    environment_type: row.environment_type,
    matching: row.matching,
    supervisor: row.supervisor,
    managed_by: row.managed_by,
    ...Object.fromEntries(RUNTIMES.map((r) => [r, { installations: installations[r] }])),
    volume_mounts: JSON.parse(row.volume_mounts) as VolumeMount[],
  };
}

export function permissionJson(env: EnvironmentRow, p: EnvironmentPermissionRow) {
  return {
    id: String(p.id),
    guid: p.guid,
    environment_guid: env.guid,
    user_guid: p.principal_type === 'user' ? p.principal_guid : null,
    group_guid: p.principal_type === 'group' ? p.principal_guid : null,
  };
}

function columns(def: EnvironmentDefinition) {
  return {
    title: def.title,
    description: def.description,
    cluster_name: def.cluster_name,
    name: def.name,
    matching: def.matching,
    supervisor: def.supervisor,
    installations: JSON.stringify(def.installations),
    volume_mounts: JSON.stringify(def.volume_mounts),
  };
}

function sameDefinition(row: EnvironmentRow, def: EnvironmentDefinition): boolean {
  return JSON.stringify(definitionOf(row)) === JSON.stringify({ ...def, installations: { ...emptyInstallations(), ...def.installations } });
}

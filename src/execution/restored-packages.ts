// What each bundle's restore installed, recorded when its environment is restored (deploy and
// build tasks) so `v1/packages`, `v1/content/{guid}/packages` and the lockfile answer from the
// database: the record outlives a restart and a wiped envs/ directory, and a redeploy records the
// new bundle's packages beside the old bundle's.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Kysely, SelectQueryBuilder } from 'kysely';
import type { Content, Database } from '../db/schema.js';
import { notFound } from '../errors.js';
import { nowIso } from '../util/ids.js';
import type { PreparedBundle } from './run-plan.js';

export type PackageLanguage = 'python' | 'r';

export interface InstalledPackage {
  name: string;
  version: string;
  hash: string | null;
}

/** One recorded package with the bundle and content it belongs to. */
export interface RecordedPackage extends InstalledPackage {
  language: PackageLanguage;
  language_version: string;
  bundle_id: number;
  content_id: number;
  content_guid: string;
}

export interface PackageFilter {
  language?: PackageLanguage;
  name?: string;
  version?: string;
  hash?: string;
  bundleId?: number;
  contentId?: number;
  contentGuid?: string;
}

/** PEP 503's normal form of a Python distribution name: pip, uv and Connect report names this way. */
export function normalizePythonName(name: string): string {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}

/** The distributions installed in a venv: each `*.dist-info/METADATA` (or `*.egg-info/PKG-INFO`) of its site-packages. */
export async function installedPythonPackages(envDir: string): Promise<InstalledPackage[]> {
  const libs = await readdir(path.join(envDir, 'lib')).catch(() => [] as string[]);
  const found = new Map<string, InstalledPackage>();
  for (const lib of libs.filter((l) => l.startsWith('python'))) {
    const site = path.join(envDir, 'lib', lib, 'site-packages');
    for (const entry of await readdir(site).catch(() => [] as string[])) {
      const metadata = entry.endsWith('.dist-info') ? 'METADATA' : entry.endsWith('.egg-info') ? 'PKG-INFO' : null;
      if (!metadata) continue;
      const text = await readFile(path.join(site, entry, metadata), 'utf8').catch(() => null);
      const fields = text === null ? null : headerFields(text, ['Name', 'Version']);
      if (!fields?.Name || !fields.Version) continue;
      const name = normalizePythonName(fields.Name);
      found.set(name, { name, version: fields.Version, hash: null });
    }
  }
  return [...found.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * The packages of an R library: each `<package>/DESCRIPTION`, and those the restore reused from a
 * site library instead of installing (runtime/R/restore.R lists them in `.lectern-reused.dcf`).
 */
export async function installedRPackages(library: string): Promise<InstalledPackage[]> {
  const found = new Map<string, InstalledPackage>();
  const reused = await readFile(path.join(library, REUSED_R_PACKAGES), 'utf8').catch(() => '');
  for (const record of reused.split(/\n\s*\n/)) {
    const fields = headerFields(record, ['Package', 'Version']);
    if (fields.Package && fields.Version) found.set(fields.Package, { name: fields.Package, version: fields.Version, hash: null });
  }
  for (const entry of await readdir(library).catch(() => [] as string[])) {
    if (entry.startsWith('.')) continue;
    const text = await readFile(path.join(library, entry, 'DESCRIPTION'), 'utf8').catch(() => null);
    const fields = text === null ? null : headerFields(text, ['Package', 'Version']);
    if (fields?.Package && fields.Version) found.set(fields.Package, { name: fields.Package, version: fields.Version, hash: null });
  }
  return [...found.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** What runtime/R/restore.R writes into the library: the packages it reused from site libraries (DCF). */
const REUSED_R_PACKAGES = '.lectern-reused.dcf';

/** `Key: value` lines of an email-style header (METADATA) or a DCF file (DESCRIPTION); the first of each key. */
function headerFields(text: string, keys: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line.trim() === '') break; // METADATA's body (the long description) follows the first blank line.
    const colon = line.indexOf(':');
    if (colon <= 0 || /^\s/.test(line)) continue;
    const key = line.slice(0, colon);
    if (keys.includes(key) && out[key] === undefined) out[key] = line.slice(colon + 1).trim();
  }
  return out;
}

export class RestoredPackages {
  constructor(private readonly db: Kysely<Database>) {}

  /** Records what the prepared bundle's environments hold, replacing an earlier record of the same bundle. */
  async record(prepared: PreparedBundle): Promise<void> {
    const environments: Array<{ language: PackageLanguage; version: string; dir: string; packages: InstalledPackage[] }> = [];
    if (prepared.python?.envDir) {
      environments.push({ language: 'python', version: prepared.python.installation.version, dir: prepared.python.envDir, packages: await installedPythonPackages(prepared.python.envDir) });
    }
    if (prepared.r?.library) {
      environments.push({ language: 'r', version: prepared.r.installation.version, dir: prepared.r.library, packages: await installedRPackages(prepared.r.library) });
    }
    const { bundle, content } = prepared;
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('bundle_environments').where('bundle_id', '=', bundle.id).execute();
      for (const env of environments) {
        const row = await trx
          .insertInto('bundle_environments')
          .values({
            bundle_id: bundle.id,
            content_id: content.id,
            language: env.language,
            language_version: env.version,
            image_name: prepared.environment?.name ?? null,
            environment_key: path.basename(env.dir),
            recorded_time: nowIso(),
          })
          .returning('id')
          .executeTakeFirstOrThrow();
        // In slices: one INSERT's parameters stay within every database's limit.
        for (let i = 0; i < env.packages.length; i += 200) {
          const slice = env.packages.slice(i, i + 200).map((p) => ({ bundle_environment_id: row.id, name: p.name, version: p.version, hash: p.hash }));
          await trx.insertInto('bundle_packages').values(slice).execute();
        }
      }
    });
  }

  /**
   * Packages of live bundles matching `filter`, of the content `visible` selects (the caller's
   * visible content), one page in name order; with the total over all pages.
   */
  async page(visible: SelectQueryBuilder<Database, 'content', Content>, filter: PackageFilter, paging: { offset: number; limit: number }): Promise<{ rows: RecordedPackage[]; total: number }> {
    return this.query(filter, paging, visible);
  }

  /** Packages of the content's live bundle (none when it has no bundle or recorded no environment). */
  async ofContent(content: Content, filter: PackageFilter = {}): Promise<RecordedPackage[]> {
    if (content.bundle_id === null) return [];
    return (await this.query({ ...filter, bundleId: content.bundle_id, contentId: content.id }, { offset: 0, limit: Number.MAX_SAFE_INTEGER })).rows;
  }

  /** The requirements of the content's live Python environment, pinned (`name==version`), and the Python version it holds. */
  async lockfile(content: Content): Promise<{ pythonVersion: string; text: string }> {
    const env =
      content.bundle_id === null
        ? undefined
        : await this.db.selectFrom('bundle_environments').selectAll().where('bundle_id', '=', content.bundle_id).where('language', '=', 'python').executeTakeFirst();
    if (!env) throw notFound(`Content ${content.guid} has no restored Python environment: it is not deployed, does not use Python, or its Python environment is not managed by Lectern.`);
    const packages = await this.db.selectFrom('bundle_packages').select(['name', 'version']).where('bundle_environment_id', '=', env.id).orderBy('name').execute();
    return { pythonVersion: env.language_version, text: packages.map((p) => `${p.name}==${p.version}\n`).join('') };
  }

  private async query(filter: PackageFilter, paging: { offset: number; limit: number }, visible?: SelectQueryBuilder<Database, 'content', Content>) {
    const matching = () => {
      let q = this.db
        .selectFrom('bundle_packages')
        .innerJoin('bundle_environments', 'bundle_environments.id', 'bundle_packages.bundle_environment_id')
        .innerJoin('content', 'content.id', 'bundle_environments.content_id')
        // Only what live bundles run: a redeploy replaces the packages a content item reports.
        .whereRef('content.bundle_id', '=', 'bundle_environments.bundle_id');
      if (visible) q = q.where('content.id', 'in', visible.clearSelect().select('content.id'));
      if (filter.language) q = q.where('bundle_environments.language', '=', filter.language);
      if (filter.name !== undefined) {
        const name = filter.name;
        q = q.where((eb) =>
          eb.or([
            eb.and([eb('bundle_environments.language', '=', 'python'), eb('bundle_packages.name', '=', normalizePythonName(name))]),
            eb.and([eb('bundle_environments.language', '=', 'r'), eb('bundle_packages.name', '=', name)]),
          ]),
        );
      }
      if (filter.version !== undefined) q = q.where('bundle_packages.version', '=', filter.version);
      if (filter.hash !== undefined) q = q.where('bundle_packages.hash', '=', filter.hash);
      if (filter.bundleId !== undefined) q = q.where('bundle_environments.bundle_id', '=', filter.bundleId);
      if (filter.contentId !== undefined) q = q.where('bundle_environments.content_id', '=', filter.contentId);
      if (filter.contentGuid !== undefined) q = q.where('content.guid', '=', filter.contentGuid);
      return q;
    };
    const [count, rows] = await Promise.all([
      matching()
        .select((eb) => eb.fn.countAll<number | string | bigint>().as('n'))
        .executeTakeFirstOrThrow(),
      matching()
        .select([
          'bundle_environments.language',
          'bundle_environments.language_version',
          'bundle_environments.bundle_id',
          'bundle_environments.content_id',
          'content.guid as content_guid',
          'bundle_packages.name',
          'bundle_packages.version',
          'bundle_packages.hash',
        ])
        .orderBy('bundle_packages.name')
        .orderBy('bundle_environments.language')
        .orderBy('bundle_environments.content_id')
        .limit(paging.limit)
        .offset(paging.offset)
        .execute(),
    ]);
    return { rows: rows as RecordedPackage[], total: Number(count.n) };
  }
}

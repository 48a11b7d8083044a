// Which content is git-backed (Connect's v1/content/{guid}/repository): the repository, branch and
// directory an item is deployed from, whether its branch is polled, and what the last fetch found.
import type { Kysely } from 'kysely';
import type { AuditLog } from '../audit/audit-log.js';
import type { Content, ContentRepository, Database, User } from '../db/schema.js';
import { conflict, ErrorCode, LecternError, notFound } from '../errors.js';
import { displayDirectory, InvalidGitLocation, normalizeDirectory, parseRepositoryUrl, validateRef } from '../git/remote.js';
import { apiTime, nowIso } from '../util/ids.js';

export interface RepositoryFields {
  repository?: string;
  branch?: string;
  directory?: string;
  polling?: boolean;
}

/** The repository record as Connect answers it. */
export function repositoryJson(row: ContentRepository) {
  return {
    repository: row.repository,
    branch: row.branch,
    directory: row.directory,
    polling: row.polling === 1,
    last_error: row.last_error,
    last_known_commit: row.last_known_commit,
    last_fetched_time: apiTime(row.last_fetched_time),
  };
}

/** A location a user gave, checked as git will be given it (src/git/remote.ts); 400 with Connect's code 25 otherwise. */
export function checkedLocation(fields: { repository: string; branch: string; directory: string }) {
  try {
    parseRepositoryUrl(fields.repository);
    return { repository: fields.repository.trim(), branch: validateRef(fields.branch), directory: displayDirectory(normalizeDirectory(fields.directory)) };
  } catch (err) {
    if (err instanceof InvalidGitLocation) throw new LecternError('invalid', ErrorCode.InvalidParameter, err.message);
    throw err;
  }
}

export class ContentRepositories {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly audit: AuditLog,
    /** [Git] PollingFrequency: a new link is first polled one interval after it is made, so a deploy asked for with it (rsconnect's deploy git) comes first. */
    private readonly pollingFrequencyMs: number,
  ) {}

  find(contentId: number): Promise<ContentRepository | undefined> {
    return this.db.selectFrom('content_repositories').selectAll().where('content_id', '=', contentId).executeTakeFirst();
  }

  async get(content: Content): Promise<ContentRepository> {
    const row = await this.find(content.id);
    if (!row) throw notFound(`Content ${content.guid} is not deployed from a git repository.`);
    return row;
  }

  /** Links `content` to a repository, replacing any link it had (PUT). */
  async put(user: User, content: Content, fields: RepositoryFields): Promise<ContentRepository> {
    const location = checkedLocation({ repository: fields.repository ?? '', branch: fields.branch ?? 'main', directory: fields.directory ?? '.' });
    const now = nowIso();
    const values = {
      ...location,
      polling: fields.polling ? 1 : 0,
      last_error: null,
      last_known_commit: null,
      last_fetched_time: null,
      next_poll_at: Date.now() + this.pollingFrequencyMs,
      updated_time: now,
    };
    await this.db
      .insertInto('content_repositories')
      .values({ content_id: content.id, ...values, created_time: now })
      .onConflict((oc) => oc.column('content_id').doUpdateSet(values))
      .execute();
    await this.audit.record(
      user,
      'update_content_repository',
      `Set the git repository of content ${content.guid} to ${location.repository} (branch ${location.branch}, directory ${location.directory})`,
    );
    return this.get(content);
  }

  /** Changes some fields of an existing link (PATCH). A new location is fetched afresh at the next deploy or poll. */
  async patch(user: User, content: Content, fields: RepositoryFields): Promise<ContentRepository> {
    const row = await this.get(content);
    const location = checkedLocation({ repository: fields.repository ?? row.repository, branch: fields.branch ?? row.branch, directory: fields.directory ?? row.directory });
    const moved = location.repository !== row.repository || location.branch !== row.branch || location.directory !== row.directory;
    const polling = fields.polling === undefined ? row.polling : fields.polling ? 1 : 0;
    await this.db
      .updateTable('content_repositories')
      .set({
        ...location,
        polling,
        // A new location has no known commit: the next poll deploys from it.
        ...(moved ? { last_known_commit: null, last_error: null, last_fetched_time: null } : {}),
        ...(polling === 1 && row.polling === 0 ? { next_poll_at: Date.now() + this.pollingFrequencyMs } : {}),
        updated_time: nowIso(),
      })
      .where('content_id', '=', content.id)
      .execute();
    await this.audit.record(
      user,
      'update_content_repository',
      `Changed the git repository of content ${content.guid}: ${location.repository} (branch ${location.branch}, directory ${location.directory}, polling ${polling ? 'on' : 'off'})`,
    );
    return this.get(content);
  }

  async delete(user: User, content: Content): Promise<void> {
    await this.get(content);
    await this.db.deleteFrom('content_repositories').where('content_id', '=', content.id).execute();
    await this.audit.record(user, 'remove_content_repository', `Removed the git repository of content ${content.guid}; it is deployed from uploaded bundles again`);
  }

  /** Git-backed content takes its bundles from its repository only (Connect's code 144). */
  async refuseUpload(content: Content): Promise<void> {
    if (await this.find(content.id)) {
      throw conflict(
        `Content ${content.guid} is deployed from a git repository and takes no uploaded bundles: push to its branch, or remove its repository (DELETE v1/content/${content.guid}/repository) to upload bundles.`,
        ErrorCode.NoBundleUploadForGitManagedApp,
      );
    }
  }

  /** What a fetch of the item's branch found: the commit, or why it failed. */
  async recordFetch(contentId: number, outcome: { commit: string } | { error: string }): Promise<void> {
    await this.db
      .updateTable('content_repositories')
      .set('commit' in outcome ? { last_known_commit: outcome.commit, last_error: null, last_fetched_time: nowIso() } : { last_error: outcome.error, last_fetched_time: nowIso() })
      .where('content_id', '=', contentId)
      .execute();
  }

  /** Items with polling on whose poll is due; none is returned to two callers, whichever replica they run on. */
  async claimDuePolls(frequencyMs: number, limit = 20): Promise<ContentRepository[]> {
    const now = Date.now();
    const due = await this.db.selectFrom('content_repositories').selectAll().where('polling', '=', 1).where('next_poll_at', '<=', now).orderBy('next_poll_at').limit(limit).execute();
    const claimed: ContentRepository[] = [];
    for (const row of due) {
      // Compare-and-set on the due time: of the replicas that saw this row due, one moves it on.
      const result = await this.db
        .updateTable('content_repositories')
        .set({ next_poll_at: now + frequencyMs })
        .where('content_id', '=', row.content_id)
        .where('next_poll_at', '=', row.next_poll_at)
        .where('polling', '=', 1)
        .executeTakeFirst();
      if (result.numUpdatedRows === 1n) claimed.push(row);
    }
    return claimed;
  }
}

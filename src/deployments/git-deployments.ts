// Deploying git-backed content: fetch the commit a branch (or tag, or commit id) names, take the
// linked directory (which must hold a manifest.json, as Connect requires), store it as an ordinary
// bundle (src/bundles/, with its limits and checks) recording where it came from, and let the
// deploy task deploy it. Polling: every replica looks for due items, but each poll is claimed in
// the database (ContentRepositories.claimDuePolls), so one replica checks an item's branch and a
// new commit queues exactly one deploy task.
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Kysely } from 'kysely';
import type { Bundles } from '../bundles/bundles.js';
import type { Bundle, Content, ContentRepository, Database } from '../db/schema.js';
import { LecternError } from '../errors.js';
import { GitError, type Git } from '../git/git.js';
import { displayDirectory, InvalidGitLocation, normalizeDirectory, parseRepositoryUrl, validateRef } from '../git/remote.js';
import { TaskFailure, type TaskContext, type TaskQueue } from '../tasks/queue.js';
import type { Users } from '../users/users.js';
import type { ContentRepositories } from './git-repositories.js';

export interface GitLocation {
  repository: string;
  /** A branch, a tag or a full commit id. */
  ref: string;
  directory: string;
}

export interface GitBundle {
  bundle: Bundle;
  commit: string;
}

export interface GitDeploymentDeps {
  db: Kysely<Database>;
  /** null when git is off or was not found: every git deploy fails saying so. */
  git: Git | null;
  repositories: ContentRepositories;
  bundles: Bundles;
  users: Users;
  queue: TaskQueue;
  pollingFrequencyMs: number;
  log: (message: string, err?: unknown) => void;
}

export class GitDeployments {
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;

  constructor(private readonly deps: GitDeploymentDeps) {}

  /**
   * Fetches `location` and stores its directory as a new bundle of `content`, created by the
   * task's user. Every failure is a TaskFailure whose message says what to fix.
   */
  async bundleFrom(ctx: TaskContext, content: Content, location: GitLocation): Promise<GitBundle> {
    const git = this.deps.git;
    if (!git) throw new TaskFailure('Git-backed content is not available on this server: [Git] Enabled is off or the git command was not found ([Git] Executable).');
    let url: ReturnType<typeof parseRepositoryUrl>;
    let ref: string;
    let directory: string;
    try {
      url = parseRepositoryUrl(location.repository);
      ref = validateRef(location.ref, 'branch, tag or commit');
      directory = normalizeDirectory(location.directory);
    } catch (err) {
      if (err instanceof InvalidGitLocation) throw new TaskFailure(err.message);
      throw err;
    }
    const shownDirectory = displayDirectory(directory);
    const user = (ctx.task.user_id === null ? undefined : await this.deps.users.findById(ctx.task.user_id)) ?? (await this.deps.users.findById(content.owner_id));
    if (!user) throw new TaskFailure(`The owner of content ${content.guid} no longer exists.`);
    await ctx.log(`Fetching ${url.redacted} (${ref})`);
    const fetched = await gitStep(async () => git.fetch(url, await git.resolve(url, ref)));
    const scratch = await mkdtemp(path.join(os.tmpdir(), 'lectern-git-bundle-'));
    try {
      await ctx.log(`${fetched.ref === fetched.commit ? 'Commit' : `${fetched.ref.replace(/^refs\/(heads|tags)\//, '')} is at commit`} ${fetched.commit}`);
      if (directory !== '' && (await fetched.typeOf(directory)) !== 'tree') {
        throw new TaskFailure(`The directory "${shownDirectory}" does not exist at commit ${fetched.commit.slice(0, 12)} of ${url.redacted}.`);
      }
      const manifestPath = directory === '' ? 'manifest.json' : `${directory}/manifest.json`;
      if ((await fetched.typeOf(manifestPath)) !== 'blob') {
        throw new TaskFailure(
          `The directory "${shownDirectory}" has no manifest.json at commit ${fetched.commit.slice(0, 12)}: git-backed content needs one (write it with rsconnect write-manifest, or rsconnect::writeManifest() in R) and commit it.`,
        );
      }
      await ctx.log(`Bundling directory ${shownDirectory}`);
      const archive = path.join(scratch, 'bundle.tar.gz');
      await gitStep(() => fetched.archive(directory, archive));
      let bundle: Bundle;
      try {
        bundle = await this.deps.bundles.upload(content, user, createReadStream(archive), async () => ({
          source: 'git',
          source_repo: url.redacted,
          source_branch: ref,
          source_commit: fetched.commit,
          source_directory: shownDirectory,
        }));
      } catch (err) {
        if (err instanceof LecternError) throw new TaskFailure(`The directory "${shownDirectory}" is not a valid bundle: ${err.message}`, null, err.code);
        throw err;
      }
      await ctx.log(`Created bundle ${bundle.id} from commit ${fetched.commit.slice(0, 12)}`);
      return { bundle, commit: fetched.commit };
    } finally {
      await fetched.close();
      await rm(scratch, { recursive: true, force: true });
    }
  }

  /**
   * The bundle a deploy of git-backed content deploys: its linked branch fetched now. The commit
   * (or the failure) is recorded as last_known_commit (or last_error), so a poll redeploys only
   * when the branch moves again, not over and over for a commit that failed.
   */
  async deployBundle(ctx: TaskContext): Promise<Bundle | null> {
    const contentId = ctx.task.content_id;
    const content = contentId === null ? undefined : await this.deps.db.selectFrom('content').selectAll().where('id', '=', contentId).executeTakeFirst();
    if (!content) throw new TaskFailure('The content item was deleted before its deployment ran.');
    const link = await this.deps.repositories.find(content.id);
    if (!link) throw new TaskFailure(`Content ${content.guid} is no longer deployed from a git repository, and no bundle was named: upload one first.`);
    if (ctx.params.trigger === 'poll' && this.deps.git && link.last_known_commit) {
      // Another deploy (one a user asked for while this poll ran) may have taken the new commit already.
      const now = await this.deps.git.resolve(parseRepositoryUrl(link.repository), link.branch).catch(() => null);
      if (now?.commit === link.last_known_commit) {
        await ctx.log(`Branch ${link.branch} is still at ${now.commit.slice(0, 12)}, which is already deployed: nothing to do.`);
        return null;
      }
    }
    try {
      const { bundle, commit } = await this.bundleFrom(ctx, content, { repository: link.repository, ref: link.branch, directory: link.directory });
      await this.deps.repositories.recordFetch(content.id, { commit });
      return bundle;
    } catch (err) {
      await this.deps.repositories.recordFetch(content.id, { error: (err as Error).message }).catch(() => undefined);
      throw err;
    }
  }

  /** Registers `git-bundle`: POST v1/content/{guid}/repository/bundle, a bundle from any location, not deployed. */
  registerTasks(): void {
    this.deps.queue.handle('git-bundle', async (ctx) => {
      const content = ctx.task.content_id === null ? undefined : await this.deps.db.selectFrom('content').selectAll().where('id', '=', ctx.task.content_id).executeTakeFirst();
      if (!content) throw new TaskFailure('The content item was deleted before the bundle could be made.');
      const location = ctx.params as unknown as GitLocation;
      const { bundle, commit } = await this.bundleFrom(ctx, content, location);
      return { bundle_id: String(bundle.id), commit };
    });
  }

  /**
   * Connect's repository helpers (connectapi's repo_check_branches and repo_check_manifest_dirs):
   * `git-branches` lists a repository's branches with their commits, `git-manifest-dirs` the
   * directories of a branch that hold a manifest.json. Their results are Connect's `{type, data}`.
   */
  registerHelperTasks(): void {
    this.deps.queue.handle('git-branches', async (ctx) => {
      const git = this.requireGit();
      const url = checkedUrl(String(ctx.params.repository));
      await ctx.log(`Listing the branches of ${url.redacted}`);
      const refs = await gitStep(() => git.remoteRefs(url));
      const data = refs.filter((r) => r.ref.startsWith('refs/heads/')).map((r) => ({ branch: r.ref.slice('refs/heads/'.length), ref: r.commit }));
      return { type: 'git-repo-ref-branch-array', data };
    });
    this.deps.queue.handle('git-manifest-dirs', async (ctx) => {
      const git = this.requireGit();
      const url = checkedUrl(String(ctx.params.repository));
      let ref: string;
      try {
        ref = validateRef(String(ctx.params.branch));
      } catch (err) {
        throw new TaskFailure((err as Error).message);
      }
      await ctx.log(`Looking for manifest.json files in ${url.redacted} (${ref})`);
      const fetched = await gitStep(async () => git.fetch(url, await git.resolve(url, ref)));
      try {
        const files = await gitStep(() => fetched.files());
        const dirs = files.filter((f) => f === 'manifest.json' || f.endsWith('/manifest.json')).map((f) => displayDirectory(f.slice(0, -'manifest.json'.length).replace(/\/$/, '')));
        return { type: 'git-repo-branch-manifest-dirs-array', data: dirs.sort() };
      } finally {
        await fetched.close();
      }
    });
  }

  private requireGit(): Git {
    if (!this.deps.git) throw new TaskFailure('Git-backed content is not available on this server: [Git] Enabled is off or the git command was not found ([Git] Executable).');
    return this.deps.git;
  }

  /** Starts looking for due polls (replicas that run tasks). */
  start(): void {
    const every = Math.max(100, Math.min(10_000, Math.floor(this.deps.pollingFrequencyMs / 10)));
    this.timer = setInterval(() => {
      if (!this.polling) this.polling = this.pollDue().finally(() => (this.polling = null));
    }, every);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.polling;
  }

  private async pollDue(): Promise<void> {
    try {
      for (const link of await this.deps.repositories.claimDuePolls(this.deps.pollingFrequencyMs)) await this.poll(link);
    } catch (err) {
      this.deps.log('git polling failed', err);
    }
  }

  /** Checks one item's branch; a commit other than the last known one queues a deploy (unless one is already queued or running). */
  private async poll(link: ContentRepository): Promise<void> {
    const { db, git, repositories, queue } = this.deps;
    const content = await db.selectFrom('content').selectAll().where('id', '=', link.content_id).executeTakeFirst();
    if (!content || content.locked === 1 || !git) return;
    const pending = await db.selectFrom('tasks').select('id').where('content_id', '=', content.id).where('kind', '=', 'deploy').where('state', 'in', ['queued', 'running']).executeTakeFirst();
    if (pending) return;
    let commit: string;
    try {
      commit = (await git.resolve(parseRepositoryUrl(link.repository), validateRef(link.branch))).commit;
    } catch (err) {
      const message = err instanceof GitError || err instanceof InvalidGitLocation ? err.message : `Checking the branch failed: ${(err as Error).message}`;
      await repositories.recordFetch(content.id, { error: message });
      return;
    }
    if (commit === link.last_known_commit) {
      await repositories.recordFetch(content.id, { commit });
      return;
    }
    const task = await queue.enqueue('deploy', { contentId: content.id, bundleId: null, userId: content.owner_id, params: { activate: true, git: true, trigger: 'poll' } });
    this.deps.log(`content ${content.guid}: branch ${link.branch} of ${parseRepositoryUrl(link.repository).redacted} moved to ${commit.slice(0, 12)}; deploying (task ${task.id})`);
  }
}

function checkedUrl(value: string) {
  try {
    return parseRepositoryUrl(value);
  } catch (err) {
    if (err instanceof InvalidGitLocation) throw new TaskFailure(err.message);
    throw err;
  }
}

/** A git failure as the task's failure. */
async function gitStep<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (err instanceof GitError) throw new TaskFailure(err.message);
    throw err;
  }
}

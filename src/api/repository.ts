import { noContent, requireRole, requireUser } from '../auth/principal.js';
import { answers, ContentGuidParams, NoContent } from '../contract/common.js';
import { ContentRepository, RepoAccount, RepoHelperQuery, RepositoryBundle, RepositoryBundleBody, RepositoryPatch, RepositoryPut } from '../contract/repository.js';
import { TaskStarted } from '../contract/tasks.js';
import { InvalidGitLocation, parseRepositoryUrl, validateRef } from '../git/remote.js';
import { checkedLocation, repositoryJson } from '../deployments/git-repositories.js';
import { badRequest, ErrorCode, LecternError, notFound } from '../errors.js';
import type { RoutePlugin } from '../http/routing.js';
import type { TaskQueue } from '../tasks/queue.js';
import type { Task } from '../db/schema.js';

/**
 * Git-backed content (connect-api.md §2.5). When git is off or missing every route answers 404,
 * which rsconnect-python's `deploy git` reads as "Git-backed deployment is not enabled".
 */
export const repositoryRoutes: RoutePlugin = (server, app) => {
  const repositories = app.repositories;
  const requireGit = () => {
    if (!app.gitAvailable) throw notFound('Git-backed content is not enabled on this server ([Git] Enabled, and the git command).');
  };

  const path = '/__api__/v1/content/:guid/repository';
  server.get(path, { schema: { summary: 'The git repository content is deployed from', params: ContentGuidParams, response: answers({ 200: ContentRepository }) } }, async (request) => {
    requireGit();
    const content = await app.content.getEditable(request.params.guid, requireUser(request));
    return repositoryJson(await repositories.get(content));
  });

  const put = { summary: 'Deploy content from a git repository (create or replace the link)', params: ContentGuidParams, body: RepositoryPut, response: answers({ 200: ContentRepository }) };
  server.put(path, { schema: put }, async (request) => {
    requireGit();
    const user = requireUser(request);
    const content = await app.content.getChangeable(request.params.guid, user);
    return repositoryJson(await repositories.put(user, content, request.body));
  });

  const patch = { summary: 'Change the git repository, branch, directory or polling', params: ContentGuidParams, body: RepositoryPatch, response: answers({ 200: ContentRepository }) };
  server.patch(path, { schema: patch }, async (request) => {
    requireGit();
    const user = requireUser(request);
    const content = await app.content.getChangeable(request.params.guid, user);
    return repositoryJson(await repositories.patch(user, content, request.body));
  });

  server.delete(path, { schema: { summary: 'Stop deploying content from git', params: ContentGuidParams, response: answers({ 204: NoContent }) } }, async (request, reply) => {
    requireGit();
    const user = requireUser(request);
    const content = await app.content.getChangeable(request.params.guid, user);
    await repositories.delete(user, content);
    return noContent(reply);
  });

  const bundle = {
    summary: 'Make a bundle from a git repository (not deployed)',
    description: 'Fetches the location (default: the linked one) and answers once the bundle is stored; the task holds the log.',
    params: ContentGuidParams,
    body: RepositoryBundleBody,
    response: answers({ 200: RepositoryBundle }),
  };
  server.post(`${path}/bundle`, { schema: bundle }, async (request) => {
    requireGit();
    const user = requireUser(request);
    const content = await app.content.getChangeable(request.params.guid, user);
    const link = await repositories.find(content.id);
    const repository = request.body.repository ?? link?.repository;
    if (!repository) throw badRequest(`Content ${content.guid} is not linked to a git repository: give "repository".`, ErrorCode.ParameterMissing);
    const { branch: ref, directory } = checkedLocation({ repository, branch: request.body.ref ?? link?.branch ?? 'main', directory: request.body.directory ?? link?.directory ?? '.' });
    const task = await app.queue.enqueue('git-bundle', { contentId: content.id, userId: user.id, params: { repository, ref, directory } });
    const finished = await waitUntilFinished(app.queue, task.id, app.config.get('Git.FetchTimeout') * 3 + 60_000);
    if (!finished) throw new LecternError('unavailable', ErrorCode.InternalFailure, `The bundle is still being made (task ${task.id}); follow the task to see when it is ready.`);
    if (finished.code !== 0) throw new LecternError('invalid', finished.code === 1 ? ErrorCode.BadRequest : finished.code, finished.error, { task_id: task.id });
    const result = JSON.parse(finished.result ?? '{}') as { bundle_id: string; commit: string };
    return { bundle_id: result.bundle_id, task_id: task.id, location: { repository, ref, directory, commit: result.commit } };
  });

  // Connect's unversioned helpers for choosing what to deploy (connectapi's repo_check_* functions).
  // Branches and manifest directories are tasks whose result is the answer, as in Connect.
  server.get(
    '/__api__/repo/account',
    { schema: { summary: 'The account Lectern fetches from a git host with', querystring: RepoHelperQuery, response: answers({ 200: RepoAccount }) } },
    async (request) => {
      requireGit();
      requireRole(request, 'publisher');
      return { username: app.git!.accountFor(checkedUrl(request.query.url)) };
    },
  );

  const branches = { summary: "A repository's branches (a task; its result lists them)", querystring: RepoHelperQuery, response: answers({ 200: TaskStarted }) };
  server.get('/__api__/repo/branches', { schema: branches }, async (request) => {
    requireGit();
    const user = requireRole(request, 'publisher');
    checkedUrl(request.query.url);
    const task = await app.queue.enqueue('git-branches', { userId: user.id, params: { repository: request.query.url } });
    return { task_id: task.id };
  });

  const manifestDirs = { summary: 'The directories of a branch holding a manifest.json (a task; its result lists them)', querystring: RepoHelperQuery, response: answers({ 200: TaskStarted }) };
  server.get('/__api__/repo/manifest-dirs', { schema: manifestDirs }, async (request) => {
    requireGit();
    const user = requireRole(request, 'publisher');
    checkedUrl(request.query.url);
    const branch = request.query.branch ?? 'main';
    try {
      validateRef(branch);
    } catch (err) {
      if (err instanceof InvalidGitLocation) throw new LecternError('invalid', ErrorCode.InvalidParameter, err.message);
      throw err;
    }
    const task = await app.queue.enqueue('git-manifest-dirs', { userId: user.id, params: { repository: request.query.url, branch } });
    return { task_id: task.id };
  });
};

function checkedUrl(value: string): string {
  try {
    return parseRepositoryUrl(value).href;
  } catch (err) {
    if (err instanceof InvalidGitLocation) throw new LecternError('invalid', ErrorCode.InvalidParameter, err.message);
    throw err;
  }
}

/** The task once finished (listening for its changes), or undefined after `ms`. */
async function waitUntilFinished(queue: TaskQueue, id: string, ms: number): Promise<Task | undefined> {
  const deadline = Date.now() + ms;
  let task = await queue.get(id);
  while (task.state !== 'finished' && Date.now() < deadline) task = await queue.waitFor(id, task.output_lines, Math.min(30_000, deadline - Date.now()));
  return task.state === 'finished' ? task : undefined;
}

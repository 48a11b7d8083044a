import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { App } from '../app.js';
import { noContent, requireUser } from '../auth/principal.js';
import { bundleJson } from '../bundles/bundles.js';
import type { Bundle, Content, User } from '../db/schema.js';
import { badRequest, ErrorCode, invalidParameter, LecternError } from '../errors.js';
import type { RoutePlugin } from '../http/routing.js';

/**
 * The upload body: raw gzip tar (any or no content type) or multipart `archive` + `metadata`.
 * Multipart parts arrive in any order and the archive is streamed, so metadata that follows the
 * archive is read by `metadata()` once the archive has been consumed.
 */
async function readUpload(request: FastifyRequest): Promise<{ stream: Readable; metadata: () => Promise<Record<string, unknown>> }> {
  if (!request.isMultipart()) return { stream: request.raw, metadata: async () => ({}) };
  let metadata: Record<string, unknown> = {};
  const parts = request.parts()[Symbol.asyncIterator]();
  const readField = (part: { fieldname: string; value: unknown }) => {
    if (part.fieldname !== 'metadata') return;
    try {
      const parsed = JSON.parse(String(part.value)) as unknown;
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      metadata = parsed as Record<string, unknown>;
    } catch (err) {
      throw badRequest(`The "metadata" part must be a JSON object: ${(err as Error).message}`, ErrorCode.InvalidJson);
    }
  };
  for (let next = await parts.next(); !next.done; next = await parts.next()) {
    const part = next.value;
    if (part.type === 'field') {
      readField(part);
    } else if (part.fieldname === 'archive') {
      return {
        stream: part.file,
        metadata: async () => {
          for (let rest = await parts.next(); !rest.done; rest = await parts.next()) {
            if (rest.value.type === 'field') readField(rest.value);
            else rest.value.file.resume();
          }
          return metadata;
        },
      };
    } else {
      part.file.resume();
    }
  }
  throw new LecternError('invalid', ErrorCode.BundleMissing, 'The multipart upload has no "archive" part.');
}

// The body parsers server.ts registers for every route; an upload route leaves these bodies unread.
const PARSED_BODY_TYPES = ['application/json', 'application/x-www-form-urlencoded', 'text/plain'];

/**
 * Registers bundle upload routes (v1 and legacy alike) in a scope where every body except a
 * multipart form is left unread for the route to stream: Connect takes the archive whatever its
 * content type, and curl sends `application/x-www-form-urlencoded` unless told otherwise.
 */
export function uploadRoutes(server: FastifyInstance, routes: (scope: FastifyInstance) => void): void {
  void server.register(async (scope) => {
    scope.removeContentTypeParser(PARSED_BODY_TYPES);
    routes(scope);
  });
}

/** Stores the request's bundle for `content` (v1 and legacy upload routes alike). */
export async function receiveBundle(app: App, request: FastifyRequest, user: User, content: Content): Promise<Bundle> {
  const upload = await readUpload(request);
  const bundle = await app.bundles.upload(content, user, upload.stream, upload.metadata);
  await app.audit.record(user, 'upload_bundle', `Uploaded bundle ${bundle.id} (${bundle.size} bytes) for content ${content.guid}`);
  return bundle;
}

export async function bundlesJson(app: App, content: Content, bundles: Bundle[]) {
  const creatorIds = [...new Set(bundles.map((b) => b.created_by).filter((id): id is number => id !== null))];
  const creators = creatorIds.length ? await app.store.db.selectFrom('users').select(['id', 'guid']).where('id', 'in', creatorIds).execute() : [];
  const guidById = new Map(creators.map((c) => [c.id, c.guid]));
  return bundles.map((b) => bundleJson(b, content, b.created_by === null ? null : guidById.get(b.created_by) ?? null));
}

/** POST …/deploy and …/build share one body: {bundle_id?: string|number|null, activate?: boolean}. */
export async function enqueueDeploy(app: App, user: User, content: Content, body: unknown, kind: 'deploy' | 'build') {
  const input = (body ?? {}) as Record<string, unknown>;
  if (typeof input !== 'object' || Array.isArray(input)) throw badRequest('The request body must be a JSON object.', ErrorCode.InvalidJson);
  for (const key of Object.keys(input)) {
    if (key !== 'bundle_id' && key !== 'activate') throw invalidParameter(`Unknown field "${key}": ${kind} accepts bundle_id and activate.`);
  }
  if (input.activate !== undefined && typeof input.activate !== 'boolean') throw invalidParameter('activate must be true or false.');
  let bundle: Bundle | undefined;
  if (input.bundle_id === undefined || input.bundle_id === null || input.bundle_id === '') {
    bundle = kind === 'build' && content.bundle_id !== null ? await app.bundles.get(content, content.bundle_id) : await app.bundles.newest(content);
    if (!bundle) throw new LecternError('invalid', ErrorCode.BundleMissing, `Content ${content.guid} has no bundle to ${kind}: upload one first.`);
  } else {
    if (typeof input.bundle_id !== 'string' && typeof input.bundle_id !== 'number') throw invalidParameter('bundle_id must be a string or a number.');
    bundle = await app.bundles.get(content, input.bundle_id);
  }
  const task = await app.queue.enqueue(kind, { contentId: content.id, bundleId: bundle.id, userId: user.id, params: { activate: input.activate !== false } });
  await app.audit.record(user, kind === 'deploy' ? 'deploy_application' : 'build_application', `Queued ${kind} of bundle ${bundle.id} for content ${content.guid} (task ${task.id})`);
  return task;
}

export const bundleRoutes: RoutePlugin = (server, app) => {
  server.get('/__api__/v1/content/:guid/bundles', async (request) => {
    const user = requireUser(request);
    const content = await app.content.getEditable((request.params as { guid: string }).guid, user);
    return bundlesJson(app, content, await app.bundles.list(content));
  });

  uploadRoutes(server, (scope) =>
    scope.post('/__api__/v1/content/:guid/bundles', async (request) => {
      const user = requireUser(request);
      const content = await app.content.getChangeable((request.params as { guid: string }).guid, user);
      const bundle = await receiveBundle(app, request, user, content);
      return (await bundlesJson(app, content, [bundle]))[0];
    }),
  );

  server.get('/__api__/v1/content/:guid/bundles/:id', async (request) => {
    const user = requireUser(request);
    const { guid, id } = request.params as { guid: string; id: string };
    const content = await app.content.getEditable(guid, user);
    return (await bundlesJson(app, content, [await app.bundles.get(content, id)]))[0];
  });

  server.delete('/__api__/v1/content/:guid/bundles/:id', async (request, reply) => {
    const user = requireUser(request);
    const { guid, id } = request.params as { guid: string; id: string };
    const content = await app.content.getChangeable(guid, user);
    const bundle = await app.bundles.get(content, id);
    await app.bundles.delete(content, bundle);
    await app.audit.record(user, 'remove_bundle', `Deleted bundle ${bundle.id} of content ${content.guid}`);
    return noContent(reply);
  });

  server.get('/__api__/v1/content/:guid/bundles/:id/download', async (request, reply) => {
    const user = requireUser(request);
    const { guid, id } = request.params as { guid: string; id: string };
    const content = await app.content.getEditable(guid, user);
    const bundle = await app.bundles.get(content, id);
    return reply
      .type('application/gzip')
      .header('content-disposition', `attachment; filename="bundle-${bundle.id}.tar.gz"`)
      .header('content-length', bundle.size)
      .send(createReadStream(app.bundles.archivePath(bundle)));
  });

  server.post('/__api__/v1/content/:guid/deploy', async (request, reply) => {
    const user = requireUser(request);
    const content = await app.content.getChangeable((request.params as { guid: string }).guid, user);
    const task = await enqueueDeploy(app, user, content, request.body, 'deploy');
    return reply.code(202).send({ task_id: task.id });
  });

  server.post('/__api__/v1/content/:guid/build', async (request) => {
    const user = requireUser(request);
    const content = await app.content.getChangeable((request.params as { guid: string }).guid, user);
    const task = await enqueueDeploy(app, user, content, request.body, 'build');
    return { task_id: task.id };
  });
};

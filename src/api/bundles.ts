import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { App } from '../app.js';
import { noContent, requireUser } from '../auth/principal.js';
import { Bundle, BundleParams, DeployBody } from '../contract/bundles.js';
import { answers, ContentGuidParams, NoContent } from '../contract/common.js';
import { TaskStarted } from '../contract/tasks.js';
import type { Bundle as BundleRow, Content, User } from '../db/schema.js';
import { badRequest, ErrorCode, LecternError } from '../errors.js';
import type { ApiServer, RoutePlugin } from '../http/routing.js';

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
export function uploadRoutes(server: ApiServer, routes: (scope: ApiServer) => void): void {
  void server.register(async (scope) => {
    scope.removeContentTypeParser(PARSED_BODY_TYPES);
    routes(scope);
  });
}

/** Stores the request's bundle for `content` (v1 and legacy upload routes alike). */
export async function receiveBundle(app: App, request: FastifyRequest, user: User, content: Content): Promise<BundleRow> {
  try {
    await app.repositories.refuseUpload(content);
  } catch (err) {
    // Read and drop the archive, so the refusal goes out on a connection that stays usable.
    request.raw.resume();
    throw err;
  }
  const upload = await readUpload(request);
  const bundle = await app.bundles.upload(content, user, upload.stream, upload.metadata);
  await app.audit.record(user, 'upload_bundle', `Uploaded bundle ${bundle.id} (${bundle.size} bytes) for content ${content.guid}`);
  return bundle;
}

/** The archive: a gzip tar, or multipart/form-data with `archive` (and optional `metadata` JSON). */
export const UPLOAD_BODY_DESCRIPTION = 'The bundle: a gzip tar archive as the body (any content type), or multipart/form-data with an `archive` file and an optional `metadata` JSON field.';

export const bundleRoutes: RoutePlugin = (server, app) => {
  const deploys = app.deployRequests;
  const queue = async (guid: string, user: User, body: DeployBody, kind: 'deploy' | 'build') => deploys.enqueue(user, await app.content.getChangeable(guid, user), body, kind);

  server.get('/__api__/v1/content/:guid/bundles', { schema: { summary: "Content's bundles", params: ContentGuidParams, response: answers({ 200: Type.Array(Bundle) }) } }, async (request) => {
    const user = requireUser(request);
    const content = await app.content.getEditable(request.params.guid, user);
    return app.bundles.describe(content, await app.bundles.list(content));
  });

  uploadRoutes(server, (scope) =>
    scope.post(
      '/__api__/v1/content/:guid/bundles',
      { schema: { summary: 'Upload a bundle', description: UPLOAD_BODY_DESCRIPTION, params: ContentGuidParams, response: answers({ 200: Bundle }) } },
      async (request) => {
        const user = requireUser(request);
        const content = await app.content.getChangeable(request.params.guid, user);
        const bundle = await receiveBundle(app, request, user, content);
        return (await app.bundles.describe(content, [bundle]))[0]!;
      },
    ),
  );

  server.get('/__api__/v1/content/:guid/bundles/:id', { schema: { summary: 'A bundle', params: BundleParams, response: answers({ 200: Bundle }) } }, async (request) => {
    const user = requireUser(request);
    const content = await app.content.getEditable(request.params.guid, user);
    return (await app.bundles.describe(content, [await app.bundles.get(content, request.params.id)]))[0]!;
  });

  server.delete('/__api__/v1/content/:guid/bundles/:id', { schema: { summary: 'Delete a bundle', params: BundleParams, response: answers({ 204: NoContent }) } }, async (request, reply) => {
    const user = requireUser(request);
    const content = await app.content.getChangeable(request.params.guid, user);
    const bundle = await app.bundles.get(content, request.params.id);
    await app.bundles.delete(content, bundle);
    await app.audit.record(user, 'remove_bundle', `Deleted bundle ${bundle.id} of content ${content.guid}`);
    return noContent(reply);
  });

  const archive = { description: 'The gzip tar archive.', content: { 'application/gzip': { schema: Type.Unsafe<Readable>({ type: 'string', format: 'binary' }) } } };
  const download = { summary: "Download a bundle's archive", params: BundleParams, response: answers({ 200: archive }) };
  server.get('/__api__/v1/content/:guid/bundles/:id/download', { schema: download }, async (request, reply) => {
    const user = requireUser(request);
    const content = await app.content.getEditable(request.params.guid, user);
    const bundle = await app.bundles.get(content, request.params.id);
    return reply
      .type('application/gzip')
      .header('content-disposition', `attachment; filename="bundle-${bundle.id}.tar.gz"`)
      .header('content-length', bundle.size)
      .send(createReadStream(app.bundles.archivePath(bundle)));
  });

  const deploy = { summary: 'Deploy a bundle (answers 202 with the task)', params: ContentGuidParams, body: DeployBody, response: answers({ 202: TaskStarted }) };
  server.post('/__api__/v1/content/:guid/deploy', { schema: deploy }, async (request, reply) => {
    const task = await queue(request.params.guid, requireUser(request), request.body, 'deploy');
    return reply.code(202).send({ task_id: task.id });
  });

  const build = { summary: 'Build a bundle without activating it', params: ContentGuidParams, body: DeployBody, response: answers({ 200: TaskStarted }) };
  server.post('/__api__/v1/content/:guid/build', { schema: build }, async (request) => {
    const task = await queue(request.params.guid, requireUser(request), request.body, 'build');
    return { task_id: task.id };
  });
};

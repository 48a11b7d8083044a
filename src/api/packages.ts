import { Type } from 'typebox';
import { noContent, requireUser } from '../auth/principal.js';
import { answers, ContentGuidParams, NoContent } from '../contract/common.js';
import { ContentPackagesQuery, Package, PackagesQuery } from '../contract/packages.js';
import { Page } from '../contract/users.js';
import type { RecordedPackage } from '../execution/restored-packages.js';
import { invalidParameter } from '../errors.js';
import type { RoutePlugin } from '../http/routing.js';

const MAX_PAGE_SIZE = 500;

/** Connect's ContentPackage; `hash` only where there is one (R). */
function packageJson(p: RecordedPackage): Package {
  const out: Package = {
    language: p.language,
    language_version: p.language_version,
    name: p.name,
    version: p.version,
    bundle_id: String(p.bundle_id),
    content_id: String(p.content_id),
    content_guid: p.content_guid,
    app_id: String(p.content_id),
    app_guid: p.content_guid,
  };
  if (p.hash !== null) out.hash = p.hash;
  return out;
}

/**
 * What restores installed (src/execution/restored-packages.ts). Like the environment fields of a
 * content item, packages are shown to its owner, collaborators and administrators.
 */
export const packageRoutes: RoutePlugin = (server, app) => {
  const list = { summary: 'Packages installed for the live bundles of content the caller may edit', querystring: PackagesQuery, response: answers({ 200: Page(Package) }) };
  server.get('/__api__/v1/packages', { schema: list }, async (request) => {
    const user = requireUser(request);
    const q = request.query;
    if (q.content_id !== undefined && q.app_id !== undefined && q.content_id !== q.app_id) throw invalidParameter('content_id and app_id name the same thing: give one.');
    if (q.content_guid !== undefined && q.app_guid !== undefined && q.content_guid !== q.app_guid) throw invalidParameter('content_guid and app_guid name the same thing: give one.');
    const pageNumber = q.page_number ?? 1;
    const pageSize = Math.min(q.page_size ?? MAX_PAGE_SIZE, MAX_PAGE_SIZE);
    const filter = { language: q.language, name: q.name, version: q.version, hash: q.hash, bundleId: q.bundle_id, contentId: q.content_id ?? q.app_id, contentGuid: q.content_guid ?? q.app_guid };
    const { rows, total } = await app.packages.page(await app.content.editableBy(user), filter, { offset: (pageNumber - 1) * pageSize, limit: pageSize });
    return { current_page: pageNumber, total, results: rows.map(packageJson) };
  });

  const ofContent = {
    summary: "Packages installed for a content item's live bundle (204 when it was never deployed)",
    params: ContentGuidParams,
    querystring: ContentPackagesQuery,
    response: answers({ 200: Type.Array(Package), 204: NoContent }),
  };
  server.get('/__api__/v1/content/:guid/packages', { schema: ofContent }, async (request, reply) => {
    const user = requireUser(request);
    const content = await app.content.getEditable(request.params.guid, user);
    if (content.bundle_id === null) return noContent(reply);
    return (await app.packages.ofContent(content, request.query)).map(packageJson);
  });

  const lockfile = {
    summary: "The pinned requirements of a content item's live Python environment",
    params: ContentGuidParams,
    response: answers({
      200: {
        description: 'requirements.txt.lock: one name==version line per installed distribution; the Generated-By header names the Python version (connect; python=X.Y.Z).',
        content: { 'text/plain': { schema: Type.String() } },
      },
    }),
  };
  server.get('/__api__/v1/content/:guid/lockfile', { schema: lockfile }, async (request, reply) => {
    const user = requireUser(request);
    const content = await app.content.getEditable(request.params.guid, user);
    const { pythonVersion, text } = await app.packages.lockfile(content);
    // rsconnect-python and posit-sdk read the Python version from this header (python=X.Y.Z).
    return reply.header('Generated-By', `connect; python=${pythonVersion}`).type('text/plain; charset=utf-8').send(text);
  });
};

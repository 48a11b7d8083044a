import send from '@fastify/send';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RoutePlugin } from '../http/routing.js';

/**
 * The browser libraries rendered notebooks load (nbconvert's MathJax and require.js), served by
 * Lectern so a page renders on a server without internet. The paths are part of the runtime
 * contract (docs/runtime.md): runtime/python/lectern_render.py writes them into every notebook it
 * renders, so they name the libraries' API generation, not a patch release, and pages rendered
 * before an upgrade keep working. The npm versions are pinned exactly, so what a path serves
 * changes only by a deliberate upgrade within the same generation: hence immutable caching.
 */
export const STATIC_ASSETS_PREFIX = '/__static__/';

const IMMUTABLE = 'public, max-age=31536000, immutable';

const packageDir = (name: string) => path.dirname(createRequire(import.meta.url).resolve(`${name}/package.json`));

interface Library {
  root: string;
  /** The files a page may ask for, relative to the package root. */
  serves: RegExp;
}

const LIBRARIES: Record<string, () => Library> = {
  // MathJax 2 as nbconvert's templates use it (config TeX-AMS_CHTML-full,Safe, with the menu's
  // other renderers): its loader, configs, extensions, input and output processors and the TeX
  // fonts. Not served: the unpacked sources, the tests and the fonts of other families (26 of the
  // package's 73 MB).
  'mathjax-2': () => ({
    root: packageDir('mathjax'),
    serves: new RegExp(
      '^(?:MathJax\\.js' +
        '|(?:config|extensions|localization|jax/input|jax/element)/.+\\.js' +
        '|jax/output/(?:CommonHTML|HTML-CSS|NativeMML|PlainSource|PreviewHTML|SVG)/(?!fonts/)[^/]+\\.js' +
        '|jax/output/(?:CommonHTML|HTML-CSS|SVG)/(?:autoload/[^/]+\\.js|fonts/TeX/.+\\.js)' +
        '|fonts/HTML-CSS/TeX/(?:woff|otf|eot)/[^/]+\\.(?:woff|otf|eot))$',
    ),
  }),
  'requirejs-2': () => ({ root: packageDir('requirejs'), serves: /^require\.js$/ }),
};

export const staticAssetRoutes: RoutePlugin = (server) => {
  const libraries = new Map(Object.entries(LIBRARIES).map(([name, library]) => [name, library()]));

  const notFound = (request: FastifyRequest, reply: FastifyReply) =>
    reply.code(404).type('text/plain; charset=utf-8').send(`404 page not found: ${request.url.split('?')[0]}\n`);

  server.get(`${STATIC_ASSETS_PREFIX}:library/*`, async (request, reply) => {
    const params = request.params as { library: string; '*': string };
    const library = libraries.get(params.library);
    const file = params['*'];
    if (!library || file.split('/').some((segment) => segment === '' || segment === '.' || segment === '..') || !library.serves.test(file)) {
      return notFound(request, reply);
    }
    const result = await send(request.raw, '/' + file, { root: library.root, dotfiles: 'deny', index: false, etag: true, lastModified: false, cacheControl: false });
    if (result.type === 'error') return notFound(request, reply);
    reply.code(result.statusCode);
    for (const [name, value] of Object.entries(result.headers)) reply.header(name, value);
    reply.header('cache-control', IMMUTABLE);
    reply.header('x-content-type-options', 'nosniff');
    return reply.send(result.stream);
  });
};

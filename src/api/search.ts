import { requireUser } from '../auth/principal.js';
import { answers } from '../contract/common.js';
import { Content } from '../contract/content.js';
import { SearchContentQuery } from '../contract/search.js';
import { Page } from '../contract/users.js';
import { parseIncludes } from '../content/content-views.js';
import type { RoutePlugin } from '../http/routing.js';
import { contentLinks } from './content.js';

/** Connect's server-side content search; the dashboard's content list uses it too. */
export const searchRoutes: RoutePlugin = (server, app) => {
  const schema = { summary: 'Search the content the caller may see', querystring: SearchContentQuery, response: answers({ 200: Page(Content) }) };
  server.get('/__api__/v1/search/content', { schema }, async (request) => {
    const user = requireUser(request);
    const { q = '', page_number: pageNumber = 1, page_size: pageSize = 500, sort = 'created', order = 'desc', include } = request.query;
    const includes = parseIncludes(include);
    const { items, total } = await app.search.search(user, { q, sort, order, offset: (pageNumber - 1) * pageSize, limit: pageSize });
    // Exactly {current_page, total, results}: posit-sdk builds its Page from every key.
    return { current_page: pageNumber, total, results: await app.contentViews.render(user, items, includes, contentLinks(app, request)) };
  });
};

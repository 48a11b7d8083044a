// Server-side content search (`GET v1/search/content`): Connect's query syntax parsed into SQL
// over the content the caller may see, one offset page at a time. The syntax (docs/search.md):
// free words match name, title or description; `key:value` terms narrow by owner, tag, type,
// published or locked state; values may be quoted; a term's values are alternatives
// (`type:shiny,quarto` or `type:shiny type:quarto`), different terms all apply; `-` before a term
// or word excludes what it matches.
import { type ExpressionBuilder, type Expression, type SqlBool, sql, type Kysely } from 'kysely';
import type { Content, Database, User } from '../db/schema.js';
import { invalidParameter } from '../errors.js';
import { APP_MODE_TABLE, APP_MODES, type AppMode, type ContentGroup } from './app-modes.js';
import type { ContentService } from './content.js';

export const SEARCH_SORTS = ['created', 'last_deployed', 'name', 'title'] as const;
export type SearchSort = (typeof SEARCH_SORTS)[number];
export type SearchOrder = 'asc' | 'desc';

const KEYS = ['owner', 'tag', 'type', 'published', 'locked', 'is'] as const;
type Key = (typeof KEYS)[number];

/** One term of a query: a word (key null) or `key:value1,value2`, maybe negated. */
export interface SearchTerm {
  key: Key | null;
  values: string[];
  negated: boolean;
}

const GROUPS: readonly ContentGroup[] = ['app', 'api', 'document', 'site'];
const modesOfGroup = (group: ContentGroup) => APP_MODES.filter((m) => (APP_MODE_TABLE[m] as { group?: ContentGroup }).group === group);

/**
 * What `type:` accepts besides an app mode itself (`type:python-fastapi`): the dashboard's groups
 * and the names people use for a framework or format. `pin` is a content category, not a mode.
 */
const TYPE_ALIASES: Record<string, AppMode[]> = {
  app: modesOfGroup('app'),
  application: modesOfGroup('app'),
  api: modesOfGroup('api'),
  document: modesOfGroup('document'),
  doc: modesOfGroup('document'),
  site: ['static'],
  static: ['static'],
  shiny: ['shiny', 'rmd-shiny', 'python-shiny', 'quarto-shiny'],
  rmarkdown: ['rmd-static', 'rmd-shiny'],
  rmd: ['rmd-static', 'rmd-shiny'],
  quarto: ['quarto-static', 'quarto-shiny'],
  jupyter: ['jupyter-static', 'jupyter-voila'],
  notebook: ['jupyter-static'],
  voila: ['jupyter-voila'],
  plumber: ['api'],
  flask: ['python-api'],
  fastapi: ['python-fastapi'],
  dash: ['python-dash'],
  streamlit: ['python-streamlit'],
  bokeh: ['python-bokeh'],
  gradio: ['python-gradio'],
  panel: ['python-panel'],
  tensorflow: ['tensorflow-saved-model'],
  unpublished: ['unknown'],
};

/** Splits a query into terms: whitespace separates them except inside double quotes. */
export function parseSearchQuery(q: string): SearchTerm[] {
  const terms: SearchTerm[] = [];
  const token = /(-?)(?:([A-Za-z_]+):)?(?:"([^"]*)"?|(\S*))/gy;
  let i = 0;
  while (i < q.length) {
    if (/\s/.test(q[i]!)) {
      i++;
      continue;
    }
    token.lastIndex = i;
    const m = token.exec(q);
    if (!m) break;
    i = token.lastIndex;
    const [, minus, rawKey, quoted, bare] = m;
    const text = quoted ?? bare ?? '';
    if (rawKey === undefined) {
      if (text !== '') terms.push({ key: null, values: [text], negated: minus === '-' });
      continue;
    }
    const key = rawKey.toLowerCase();
    if (!KEYS.includes(key as Key)) throw invalidParameter(`Unknown search term "${rawKey}:": use owner:, tag:, type:, published:, locked: or is:, or quote the words ("${rawKey}:${text}").`);
    const values = (quoted !== undefined ? [quoted] : text.split(',')).map((v) => v.trim()).filter(Boolean);
    if (values.length === 0) throw invalidParameter(`The search term "${rawKey}:" needs a value, e.g. ${rawKey}:${exampleOf(key as Key)}.`);
    terms.push({ key: key as Key, values, negated: minus === '-' });
  }
  return terms;
}

function exampleOf(key: Key): string {
  return { owner: '@me', tag: 'finance', type: 'shiny', published: 'true', locked: 'false', is: 'published' }[key];
}

function truth(key: string, value: string): boolean {
  const v = value.toLowerCase();
  if (v === 'true' || v === 'yes' || v === '1') return true;
  if (v === 'false' || v === 'no' || v === '0') return false;
  throw invalidParameter(`${key}:${value} is not a search term: use ${key}:true or ${key}:false.`);
}

function modesOf(value: string): AppMode[] {
  const v = value.toLowerCase();
  if (Object.hasOwn(TYPE_ALIASES, v)) return TYPE_ALIASES[v]!;
  if ((APP_MODES as readonly string[]).includes(v)) return [v as AppMode];
  throw invalidParameter(
    `type:${value} is not a content type: use an app mode (e.g. python-fastapi), ${GROUPS.join(', ')} or a framework (${Object.keys(TYPE_ALIASES)
      .filter((k) => !GROUPS.includes(k as ContentGroup))
      .join(', ')}).`,
  );
}

/** LIKE pattern for a word anywhere, with LIKE's own characters taken literally. */
const containing = (word: string) => `%${word.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

type Where = Expression<SqlBool>;
type Eb = ExpressionBuilder<Database, 'content'>;

/** Matches no row (a term naming no user or tag). */
const NOTHING = sql<SqlBool>`1 = 0`;

export interface SearchRequest {
  q: string;
  sort: SearchSort;
  order: SearchOrder;
  offset: number;
  limit: number;
}

export class ContentSearch {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly content: ContentService,
  ) {}

  /** One page of the content `user` may see that matches `q`, and how many match in all. */
  async search(user: User, request: SearchRequest): Promise<{ items: Content[]; total: number }> {
    const terms = parseSearchQuery(request.q);
    const conditions = await this.conditions(user, terms);
    const visible = await this.content.visibleTo(user);
    const matching = conditions.length ? visible.where((eb) => eb.and(conditions.map((c) => c(eb)))) : visible;
    const direction = request.order === 'asc' ? sql`asc` : sql`desc`;
    const column = {
      created: sql`content.created_time`,
      last_deployed: sql`content.last_deployed_time`,
      name: sql`lower(content.name)`,
      title: sql`lower(coalesce(nullif(content.title, ''), content.name))`,
    }[request.sort];
    const [count, items] = await Promise.all([
      matching
        .clearSelect()
        .select((eb) => eb.fn.countAll<number | string | bigint>().as('n'))
        .executeTakeFirstOrThrow(),
      matching
        // Never-deployed items last in either direction, as SQLite and PostgreSQL order NULL differently.
        .orderBy(sql`case when ${column} is null then 1 else 0 end`)
        .orderBy(sql`${column} ${direction}`)
        .orderBy(sql`content.id ${direction}`)
        .limit(request.limit)
        .offset(request.offset)
        .execute(),
    ]);
    return { items, total: Number(count.n) };
  }

  private async conditions(user: User, terms: SearchTerm[]): Promise<Array<(eb: Eb) => Where>> {
    const out: Array<(eb: Eb) => Where> = [];
    for (const term of terms) {
      const match = await this.condition(user, term);
      out.push(term.negated ? (eb) => eb.not(match(eb)) : match);
    }
    return out;
  }

  private async condition(user: User, term: SearchTerm): Promise<(eb: Eb) => Where> {
    const { key, values } = term;
    switch (key) {
      case null: {
        const pattern = containing(values[0]!);
        return (eb) =>
          eb.or([
            eb(sql`lower(content.name)`, 'like', sql`${pattern} escape '\\'`),
            eb(sql`lower(coalesce(content.title, ''))`, 'like', sql`${pattern} escape '\\'`),
            eb(sql`lower(content.description)`, 'like', sql`${pattern} escape '\\'`),
          ]);
      }
      case 'owner': {
        const names = values.filter((v) => v !== '@me').map((v) => v.toLowerCase());
        const me = values.includes('@me');
        const ids = names.length ? (await this.db.selectFrom('users').select('id').where(sql<string>`lower(username)`, 'in', names).execute()).map((r) => r.id) : [];
        if (me) ids.push(user.id);
        return (eb) => (ids.length ? eb('content.owner_id', 'in', ids) : NOTHING);
      }
      case 'tag': {
        const ids = await this.tagsNamed(values);
        return (eb) =>
          ids.length ? eb.exists(eb.selectFrom('content_tags').select('content_tags.tag_id').whereRef('content_tags.content_id', '=', 'content.id').where('content_tags.tag_id', 'in', ids)) : NOTHING;
      }
      case 'type': {
        const modes = [...new Set(values.flatMap((v) => (v.toLowerCase() === 'pin' ? [] : modesOf(v))))];
        const pins = values.some((v) => v.toLowerCase() === 'pin');
        return (eb) => eb.or([...(modes.length ? [eb('content.app_mode', 'in', modes)] : []), ...(pins ? [eb('content.content_category', '=', 'pin')] : [])]);
      }
      case 'published':
        return this.alternatives(values.map((v) => (truth(key, v) ? 'published' : 'unpublished')));
      case 'locked':
        return this.alternatives(values.map((v) => (truth(key, v) ? 'locked' : 'unlocked')));
      case 'is':
        return this.alternatives(values);
    }
  }

  /** `is:` states (and what published:/locked: mean): any of them. */
  private alternatives(states: string[]): (eb: Eb) => Where {
    const parts = states.map((state): ((eb: Eb) => Where) => {
      switch (state.toLowerCase()) {
        case 'published':
          return (eb) => eb('content.bundle_id', 'is not', null);
        case 'unpublished':
          return (eb) => eb('content.bundle_id', 'is', null);
        case 'locked':
          return (eb) => eb('content.locked', '=', 1);
        case 'unlocked':
          return (eb) => eb('content.locked', '=', 0);
        default:
          throw invalidParameter(`is:${state} is not a search term: use is:published, is:unpublished, is:locked or is:unlocked.`);
      }
    });
    return (eb) => eb.or(parts.map((p) => p(eb)));
  }

  /** The ids of tags named any of `names` (any case) and of all their descendants: content tagged "child" is also under "parent". */
  private async tagsNamed(names: string[]): Promise<number[]> {
    const tags = await this.db.selectFrom('tags').select(['id', 'name', 'parent_id']).execute();
    const wanted = new Set(names.map((n) => n.toLowerCase()));
    const found = new Set(tags.filter((t) => wanted.has(t.name.toLowerCase())).map((t) => t.id));
    for (let grew = true; grew; ) {
      grew = false;
      for (const t of tags) {
        if (t.parent_id !== null && found.has(t.parent_id) && !found.has(t.id)) {
          found.add(t.id);
          grew = true;
        }
      }
    }
    return [...found];
  }
}

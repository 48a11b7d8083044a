// Checks real answers against the OpenAPI document the server publishes (GET /__api__/openapi.json):
// the test client (test/support/lectern.ts) runs every JSON answer it receives through
// `OpenApiCheck.problem`, so each API test also tests the document. An operation with no
// documented answers (a route without a response schema yet) is not checked.
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import * as ajvFormats from 'ajv-formats';

interface Operation {
  responses?: Record<string, { content?: Record<string, { schema?: object }> }>;
}
export interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
}

const addFormats = ((ajvFormats as { default?: unknown }).default ?? ajvFormats) as (ajv: Ajv2020) => Ajv2020;

interface Template {
  path: string;
  pattern: RegExp;
  /** Fastify prefers static segments to parameters and parameters to wildcards; so does the match. */
  rank: number;
}

function template(path: string): Template {
  let rank = 0;
  const source = path
    .split(/(\{[^}]+\})/)
    .map((part) => {
      if (part === '{*}') {
        rank += 100;
        return '.*';
      }
      if (/^\{[^}]+\}$/.test(part)) {
        rank += 1;
        return '[^/]+';
      }
      return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('');
  return { path, pattern: new RegExp(`^${source}$`), rank };
}

/** The request path as Fastify routes it: no query, doubled slashes folded, no trailing slash. */
function routedPath(url: string): string {
  const pathname = new URL(url, 'http://x').pathname.replace(/\/{2,}/g, '/');
  return pathname.length > 1 ? pathname.replace(/\/$/, '') : pathname;
}

export class OpenApiCheck {
  private readonly ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));
  private readonly templates: Template[];
  private readonly compiled = new Map<object, ValidateFunction>();

  constructor(readonly document: OpenApiDocument) {
    this.templates = Object.keys(document.paths)
      .map(template)
      .sort((a, b) => a.rank - b.rank);
  }

  static async fetch(baseUrl: string): Promise<OpenApiCheck> {
    const res = await fetch(`${baseUrl}/__api__/openapi.json`, { signal: AbortSignal.timeout(10_000) });
    if (res.status !== 200) throw new Error(`GET /__api__/openapi.json answered ${res.status}: ${await res.text()}`);
    return new OpenApiCheck((await res.json()) as OpenApiDocument);
  }

  /** The documented operation a request reaches, if the document has one. */
  operation(method: string, url: string): { path: string; operation: Operation } | null {
    const pathname = routedPath(url);
    for (const t of this.templates) {
      if (!t.pattern.test(pathname)) continue;
      const operation = this.document.paths[t.path]?.[method.toLowerCase()];
      if (operation) return { path: t.path, operation };
    }
    return null;
  }

  /**
   * Why this answer does not match the document, or null when it does (or the operation documents
   * no answers). `body` is the parsed JSON, or undefined for an answer without a JSON body.
   */
  problem(method: string, url: string, status: number, body: unknown): string | null {
    const found = this.operation(method, url);
    if (!found) return null;
    const responses = found.operation.responses ?? {};
    const documented = Object.values(responses).some((r) => r.content !== undefined);
    if (!documented) return null;
    const response = responses[String(status)] ?? responses[`${String(status)[0]}XX`] ?? responses.default;
    const where = `${method} ${found.path} → ${status}`;
    if (!response) return `${where}: the document lists no such status (it has ${Object.keys(responses).join(', ')})`;
    const schema = response.content?.['application/json']?.schema;
    if (!schema) return body === undefined ? null : `${where}: documented without a JSON body, but one came: ${JSON.stringify(body).slice(0, 300)}`;
    if (body === undefined) return `${where}: documented with a JSON body, but none came`;
    let validate = this.compiled.get(schema);
    if (!validate) this.compiled.set(schema, (validate = this.ajv.compile(schema)));
    if (validate(body)) return null;
    const errors = (validate.errors ?? []).map((e) => `${e.instancePath || '(root)'} ${e.message ?? ''}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`);
    return `${where}: the answer does not match the document:\n  ${errors.slice(0, 10).join('\n  ')}\nanswer: ${JSON.stringify(body).slice(0, 1000)}`;
  }
}

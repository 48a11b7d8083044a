// The dashboard talks to Lectern only through its public HTTP API, with the session cookie and
// the CSRF token that cookie-authenticated writes must carry.

/** An error in the API's own words: Connect's {code, error, payload}, or the HTTP status when the body has none. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: number | null,
    message: string,
    /** Connect's `payload`, e.g. `{field}` naming the input the server refused. */
    readonly payload: unknown = null,
  ) {
    super(message);
  }

  /** The input the server named as wrong (`payload.field`), if any. */
  get field(): string | null {
    const field = (this.payload as { field?: unknown } | null)?.field;
    return typeof field === 'string' ? field : null;
  }
}

let csrfToken: string | null = null;

export function setCsrfToken(token: string | null) {
  csrfToken = token;
}

/** Turns a failed response into an ApiError with the server's message. */
export async function errorFrom(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { code?: unknown; error?: unknown; payload?: unknown };
    if (typeof body.error === 'string') return new ApiError(res.status, typeof body.code === 'number' ? body.code : null, body.error, body.payload ?? null);
  } catch {
    // not JSON: fall through to the text or the status
  }
  const line = text.trim().split('\n')[0];
  return new ApiError(res.status, null, line || `The server answered ${res.status} ${res.statusText}.`);
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  json?: unknown;
  signal?: AbortSignal;
}

export async function request(path: string, options: RequestOptions = {}): Promise<Response> {
  const method = options.method ?? 'GET';
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.json !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: options.json === undefined ? undefined : JSON.stringify(options.json), credentials: 'same-origin', signal: options.signal });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError(0, null, 'Lectern cannot be reached. Check your connection and try again.');
  }
  if (!res.ok) throw await errorFrom(res);
  return res;
}

/** A JSON answer (or null for 204 No Content). */
export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const res = await request(path, options);
  if (res.status === 204) return null as T;
  return (await res.json()) as T;
}

/** Reads a newline-delimited JSON stream (job log tails) until it ends or the signal aborts. */
export async function* ndjson<T>(path: string, signal: AbortSignal): AsyncGenerator<T> {
  const res = await request(path, { signal });
  if (!res.body) return;
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += value;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (line) yield JSON.parse(line) as T;
      }
    }
  } finally {
    reader.releaseLock();
  }
}

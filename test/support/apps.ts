import assert from 'node:assert/strict';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import type { TestServer } from './lectern.js';
import { type RsconnectVersion, runRsconnect } from './python.js';
import { makeTarGz } from './tarball.js';

/** Writes `files` into a fresh temporary directory and returns it. */
export async function writeApp(name: string, files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `lectern-app-${name}-`));
  for (const [file, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), text);
  }
  return dir;
}

/** `rsconnect deploy <kind> …` with the newest client (or `options.version`); returns the new content's GUID and the log. */
export async function deployWith(t: TestServer, kind: string, args: string[], options: { env?: Record<string, string>; expectFailure?: boolean; version?: RsconnectVersion } = {}) {
  const result = await runRsconnect(options.version ?? 'latest', ['deploy', kind, '-s', t.url, '-k', t.adminKey, ...args], { env: options.env, timeoutMs: 600_000 });
  const log = `${result.stdout}\n${result.stderr}`;
  if (options.expectFailure) {
    assert.notEqual(result.code, 0, log);
  } else {
    assert.equal(result.code, 0, log);
  }
  const guid = /\/content\/([0-9a-f-]{36})\//.exec(log)?.[1];
  return { guid: guid ?? '', log };
}

/** fetch through Lectern with the admin key. */
export async function fetchContent(t: TestServer, guid: string, rest = '', init: RequestInit = {}) {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Key ${t.adminKey}`);
  return fetch(`${t.url}/content/${guid}/${rest}`, { ...init, headers, redirect: 'manual' });
}

/**
 * One Shiny session over the websocket (R Shiny and Shiny for Python speak the same protocol):
 * send the init message with inputs, return the first `values` message the server computes. R Shiny
 * computes only outputs the client reports visible, so `expectOutput` is reported visible.
 */
export async function shinySession(t: TestServer, wsUrl: string, inputs: Record<string, unknown>, expectOutput: string): Promise<Record<string, unknown>> {
  const ws = new WebSocket(wsUrl, { headers: { authorization: `Key ${t.adminKey}` } });
  try {
    return await new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no value for ${expectOutput} within 60 s`)), 60_000);
      ws.on('open', () =>
        ws.send(
          JSON.stringify({
            method: 'init',
            data: { [`.clientdata_output_${expectOutput}_hidden`]: false, ...inputs, '.clientdata_url_hostname': '127.0.0.1', '.clientdata_allowDataUriScheme': true },
          }),
        ),
      );
      ws.on('message', (raw) => {
        const text = raw.toString();
        // SockJS-style framing is not used on the plain websocket endpoint; messages are JSON.
        let message: { values?: Record<string, unknown>; errors?: Record<string, unknown> };
        try {
          message = JSON.parse(text);
        } catch {
          return;
        }
        if (message.values && expectOutput in message.values) {
          clearTimeout(timer);
          resolve(message.values);
        }
      });
      ws.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      ws.on('unexpected-response', (_req, res) => {
        clearTimeout(timer);
        reject(new Error(`websocket upgrade refused: ${res.statusCode}`));
      });
    });
  } finally {
    ws.close();
  }
}

/**
 * A python-api bundle of one WSGI `app.py` (entrypoint app:app) and an empty requirements file:
 * nothing to download. Managed (the default), Lectern restores an empty venv; unmanaged, the
 * interpreter serves it as it is.
 */
export function wsgiApiBundle(appSource: string, pythonVersion: string, options: { managed?: boolean; environment?: Record<string, unknown> } = {}): Buffer<ArrayBuffer> {
  // `environment` adds manifest fields (an image, say) and may override environment_management.
  const environment = { ...(options.managed === false ? { environment_management: { python: false } } : {}), ...options.environment };
  const manifest = {
    version: 1,
    metadata: { appmode: 'python-api', entrypoint: 'app:app' },
    python: { version: pythonVersion, package_manager: { name: 'pip', package_file: 'requirements.txt' } },
    ...(Object.keys(environment).length ? { environment } : {}),
    files: { 'app.py': { checksum: '' }, 'requirements.txt': { checksum: '' } },
  };
  return makeTarGz([
    { name: 'manifest.json', content: JSON.stringify(manifest) },
    { name: 'app.py', content: appSource },
    { name: 'requirements.txt', content: '' },
  ]);
}

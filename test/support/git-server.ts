// A real git server on loopback for the git-backed content tests: `git http-backend` (git's own
// smart-HTTP server, run as a CGI program) behind a small Node HTTP server, serving bare
// repositories from a temporary directory; plus helpers that commit and push to them as a user would.
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

const GIT_ENV = {
  ...process.env,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'Test Author',
  GIT_AUTHOR_EMAIL: 'author@example.org',
  GIT_COMMITTER_NAME: 'Test Author',
  GIT_COMMITTER_EMAIL: 'author@example.org',
};

export async function git(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await run('git', args, { cwd, env: GIT_ENV });
  return stdout.trim();
}

export interface GitServer {
  /** http://127.0.0.1:<port>/ */
  url: string;
  /** Creates a bare repository `name`.git with a working clone; returns both. */
  createRepository(name: string): Promise<WorkingRepository>;
  /** Requests seen, e.g. to tell that a fetch happened. */
  requests: string[];
  close(): Promise<void>;
}

export interface WorkingRepository {
  /** The URL Lectern is given. */
  url: string;
  /** Writes files (relative paths → text), commits them on `branch` and pushes; returns the commit. */
  commit(files: Record<string, string>, options?: { branch?: string; message?: string; remove?: string[] }): Promise<string>;
}

/** `basicAuth`: every request must carry these credentials (a private repository). */
export async function startGitServer(options: { basicAuth?: { username: string; password: string } } = {}): Promise<GitServer> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'lectern-git-server-'));
  const backend = path.join(await git(root, '--exec-path'), 'git-http-backend');
  const requests: string[] = [];
  const workDirs: string[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    requests.push(`${req.method} ${url.pathname}`);
    if (options.basicAuth) {
      const expected = `Basic ${Buffer.from(`${options.basicAuth.username}:${options.basicAuth.password}`).toString('base64')}`;
      if (req.headers.authorization !== expected) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="test"' }).end('authentication required\n');
        return;
      }
    }
    const child = spawn(backend, [], {
      env: {
        PATH: process.env.PATH,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_CONFIG_GLOBAL: '/dev/null',
        REQUEST_METHOD: req.method ?? 'GET',
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        ...(req.headers['content-length'] ? { CONTENT_LENGTH: req.headers['content-length'] } : {}),
        HTTP_CONTENT_ENCODING: req.headers['content-encoding'] ?? '',
        HTTP_GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
        REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
        REMOTE_USER: options.basicAuth?.username ?? '',
        SERVER_PROTOCOL: 'HTTP/1.1',
      },
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    req.pipe(child.stdin);
    // CGI output: header lines, a blank line, then the body.
    let head = Buffer.alloc(0);
    let headerDone = false;
    child.stdout.on('data', (chunk: Buffer) => {
      if (headerDone) return void res.write(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      headerDone = true;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, end).toString('latin1').split('\r\n')) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10);
        else headers[name] = value;
      }
      res.writeHead(status, headers);
      res.write(head.subarray(end + 4));
    });
    child.stdout.on('end', () => res.end());
    child.on('error', () => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return {
    url,
    requests,
    async createRepository(name) {
      const bare = path.join(root, `${name}.git`);
      await git(root, 'init', '--quiet', '--bare', '--initial-branch=main', bare);
      const work = await mkdtemp(path.join(os.tmpdir(), `lectern-git-work-${name}-`));
      workDirs.push(work);
      await git(work, 'init', '--quiet', '--initial-branch=main');
      await git(work, 'remote', 'add', 'origin', bare);
      return {
        url: `${url}${name}.git`,
        async commit(files, { branch = 'main', message = 'change', remove = [] } = {}) {
          const branches = await git(work, 'branch', '--list', branch);
          const hasCommits = await git(work, 'rev-parse', '--verify', '--quiet', 'HEAD').catch(() => '');
          if (hasCommits) await git(work, 'checkout', '--quiet', ...(branches ? [branch] : ['-b', branch]));
          else await git(work, 'checkout', '--quiet', '--orphan', branch);
          for (const [file, text] of Object.entries(files)) {
            await mkdir(path.dirname(path.join(work, file)), { recursive: true });
            await writeFile(path.join(work, file), text);
          }
          for (const file of remove) await git(work, 'rm', '--quiet', file);
          await git(work, 'add', '--all');
          await git(work, 'commit', '--quiet', '--allow-empty', '-m', message);
          await git(work, 'push', '--quiet', 'origin', branch);
          return git(work, 'rev-parse', 'HEAD');
        },
      };
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      for (const dir of [root, ...workDirs]) await rm(dir, { recursive: true, force: true });
    },
  };
}

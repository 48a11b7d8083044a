// Runs the real `git` for git-backed content: listing a remote's refs, fetching one commit into a
// private bare repository, and archiving a directory of it. git is always spawned directly (never
// through a shell), with every option before `--end-of-options`, the user's system and global
// configuration ignored, hooks and credential prompts off, only http(s) transports allowed, and
// each command bounded in time (and a fetch in size).
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { formatBytes } from '../util/bytes.js';
import { isFullCommitId, type RepositoryUrl } from './remote.js';

/** A git command that failed; `message` is git's own explanation, cleaned up for users. */
export class GitError extends Error {}

/** Connect's [GitCredential] entries: HTTP basic credentials for one host. */
export interface GitCredential {
  host: string;
  protocol: string;
  username: string;
  password: string;
}

export interface GitLimits {
  /** Longest one git command may run. */
  timeoutMs: number;
  /** Largest repository a fetch may write. */
  maxFetchBytes: number;
  /** Largest bundle archive a directory may produce. */
  maxArchiveBytes: number;
}

export interface RemoteRef {
  /** refs/heads/<name> or refs/tags/<name>. */
  ref: string;
  commit: string;
}

/** A commit fetched into a private bare repository; `close()` removes it. */
export interface FetchedCommit {
  commit: string;
  /** What the ref resolved to: `refs/heads/main`, `refs/tags/v1`, or the commit id itself. */
  ref: string;
  /** "tree" or "blob" for a path at the commit, undefined when it does not exist. */
  typeOf(pathInRepo: string): Promise<string | undefined>;
  /** Writes the directory (relative, "" = the root) as a gzip tar archive to `file`. */
  archive(directory: string, file: string): Promise<void>;
  /** Every file path at the commit. */
  files(): Promise<string[]>;
  close(): Promise<void>;
}

const OUTPUT_LIMIT = 4 * 1024 * 1024;

export class Git {
  constructor(
    private readonly executable: string,
    private readonly limits: GitLimits,
    private readonly credentials: readonly GitCredential[] = [],
  ) {}

  /** git's version ("2.39.5"), or null when the executable cannot be run. */
  static async version(executable: string): Promise<string | null> {
    try {
      const { stdout } = await run(executable, ['--version'], { env: baseEnv(os.tmpdir()), timeoutMs: 10_000 });
      return /git version (\S+)/.exec(stdout)?.[1] ?? null;
    } catch {
      return null;
    }
  }

  /** The branches and tags of a remote (tags peeled to their commits). */
  async remoteRefs(url: RepositoryUrl): Promise<RemoteRef[]> {
    return this.withHome(async (home) => {
      const { stdout } = await this.git(home, ['ls-remote', '--heads', '--tags', '--end-of-options', url.href], url);
      const refs = new Map<string, string>();
      for (const line of stdout.split('\n')) {
        const [commit, name] = line.split('\t');
        if (!commit || !name) continue;
        // A peeled tag (`refs/tags/v1^{}`) names the commit an annotated tag points at.
        if (name.endsWith('^{}')) refs.set(name.slice(0, -3), commit);
        else if (!refs.has(name)) refs.set(name, commit);
      }
      return [...refs].map(([ref, commit]) => ({ ref, commit }));
    });
  }

  /** The commit `ref` (a branch, else a tag) is at, or a full commit id as given; GitError when none. */
  async resolve(url: RepositoryUrl, ref: string): Promise<RemoteRef> {
    const refs = await this.remoteRefs(url);
    const found = refs.find((r) => r.ref === `refs/heads/${ref}`) ?? refs.find((r) => r.ref === `refs/tags/${ref}`);
    if (found) return found;
    if (isFullCommitId(ref)) return { ref, commit: ref };
    const branches = refs.filter((r) => r.ref.startsWith('refs/heads/')).map((r) => r.ref.slice('refs/heads/'.length));
    const known = branches.length ? `its branches are ${branches.slice(0, 20).join(', ')}${branches.length > 20 ? ', …' : ''}` : 'it has no branches';
    throw new GitError(`The repository ${url.redacted} has no branch or tag "${ref}" (${known}).`);
  }

  /** Fetches `ref` (resolved with `resolve`) alone, without history, into a new private bare repository. */
  async fetch(url: RepositoryUrl, target: RemoteRef): Promise<FetchedCommit> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'lectern-git-'));
    const repo = path.join(dir, 'repo.git');
    const close = () => rm(dir, { recursive: true, force: true });
    try {
      await this.git(dir, ['init', '--bare', '--quiet', repo], null);
      const source = target.ref.startsWith('refs/') ? target.ref : target.commit;
      await this.git(dir, ['-C', repo, 'fetch', '--quiet', '--depth=1', '--no-tags', '--no-recurse-submodules', '--end-of-options', url.href, `+${source}:refs/lectern/source`], url, repo);
      const { stdout } = await this.git(dir, ['-C', repo, 'rev-parse', '--verify', '--end-of-options', 'refs/lectern/source^{commit}'], null);
      const commit = stdout.trim();
      const typeOf = async (pathInRepo: string) => {
        try {
          return (await this.git(dir, ['-C', repo, 'cat-file', '-t', '--end-of-options', `${commit}:${pathInRepo}`], null)).stdout.trim();
        } catch {
          return undefined;
        }
      };
      const archive = async (directory: string, file: string) => {
        await this.git(dir, ['-C', repo, 'archive', '--format=tar.gz', '--end-of-options', `${commit}:${directory}`], null, undefined, { file, maxBytes: this.limits.maxArchiveBytes });
      };
      const files = async () => {
        const { stdout } = await this.git(dir, ['-C', repo, 'ls-tree', '-r', '-z', '--name-only', '--end-of-options', commit], null);
        return stdout.split('\0').filter(Boolean);
      };
      return { commit, ref: target.ref, typeOf, archive, files, close };
    } catch (err) {
      await close();
      throw err;
    }
  }

  private async withHome<T>(body: (home: string) => Promise<T>): Promise<T> {
    const home = await mkdtemp(path.join(os.tmpdir(), 'lectern-git-'));
    try {
      return await body(home);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  }

  /**
   * Runs one git command with `home` as its HOME. `url` (when the command talks to a remote)
   * gets the matching [GitCredential] through git's own credential store file, written into
   * `home` and never onto a command line; `watch` is a directory whose size is bounded.
   */
  private async git(home: string, args: string[], url: RepositoryUrl | null, watch?: string, output?: { file: string; maxBytes: number }) {
    const config = [
      'protocol.allow=never',
      'protocol.https.allow=always',
      'protocol.http.allow=always',
      'core.hooksPath=/dev/null',
      'core.fsmonitor=false',
      'credential.helper=',
      'http.followRedirects=initial',
      'transfer.fsckObjects=true',
    ];
    if (url) {
      const matching = this.credentialsFor(url.href);
      if (matching.length) {
        const file = path.join(home, '.lectern-git-credentials');
        await writeFile(file, matching.map((c) => `${c.protocol}://${encodeURIComponent(c.username)}:${encodeURIComponent(c.password)}@${c.host}\n`).join(''), { mode: 0o600 });
        config.push(`credential.helper=store --file=${file}`);
      }
    }
    const fullArgs = [...config.flatMap((c) => ['-c', c]), ...args];
    try {
      return await run(this.executable, fullArgs, {
        env: baseEnv(home),
        timeoutMs: this.limits.timeoutMs,
        redact: url ? [url.href, url.redacted] : undefined,
        watch: watch ? { dir: watch, maxBytes: this.limits.maxFetchBytes } : undefined,
        output,
      });
    } catch (err) {
      if (url && err instanceof GitError && /could not read (Username|Password)|Authentication failed|HTTP Basic: Access denied/i.test(err.message)) {
        const host = new URL(url.href).host;
        throw new GitError(
          this.credentialsFor(url.href).length
            ? `${url.redacted} refused the [GitCredential] credentials configured for ${host}.`
            : `${url.redacted} asks for credentials: an administrator can set [GitCredential] Host, Username and Password for ${host}.`,
        );
      }
      throw err;
    }
  }

  /** The [GitCredential] user name for `href`'s host, "" when it is fetched anonymously. */
  accountFor(href: string): string {
    return this.credentialsFor(href)[0]?.username ?? '';
  }

  private credentialsFor(href: string): GitCredential[] {
    const url = new URL(href);
    return this.credentials.filter((c) => c.host.toLowerCase() === url.host.toLowerCase() && `${c.protocol}:` === url.protocol);
  }
}

/** Nothing of the server's own environment or git configuration reaches git but PATH. */
function baseEnv(home: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    LC_ALL: 'C',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    GIT_ALLOW_PROTOCOL: 'https:http',
    GIT_PROTOCOL_FROM_USER: '0',
    // A transfer slower than 1 KB/s for a minute is given up (besides the command's own timeout).
    GIT_HTTP_LOW_SPEED_LIMIT: '1000',
    GIT_HTTP_LOW_SPEED_TIME: '60',
  };
}

interface RunOptions {
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  /** The URL as given and as shown: git's messages quote the former, users see the latter. */
  redact?: [string, string];
  watch?: { dir: string; maxBytes: number };
  /** Standard output goes to this file, at most maxBytes of it. */
  output?: { file: string; maxBytes: number };
}

function run(executable: string, args: string[], options: RunOptions): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // Run in the command's private HOME, and never look for a repository above it: the server's
    // own working directory may be one, whose configuration must not apply.
    const cwd = options.env.HOME!;
    const env = { ...options.env, GIT_CEILING_DIRECTORIES: path.dirname(cwd) };
    const child = spawn(executable, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], shell: false });
    let stdout = '';
    let stderr = '';
    let stopped: string | null = null;
    const stop = (why: string) => {
      if (stopped) return;
      stopped = why;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => stop(`git took longer than ${Math.round(options.timeoutMs / 1000)} s and was stopped.`), options.timeoutMs);
    let sizeTimer: NodeJS.Timeout | undefined;
    if (options.watch) {
      const { dir, maxBytes } = options.watch;
      sizeTimer = setInterval(() => {
        void directorySize(dir).then((size) => size > maxBytes && stop(`The repository is larger than the limit of ${formatBytes(maxBytes)} ([Git] MaxFetchSize).`));
      }, 250);
    }
    let written = 0;
    let file: ReturnType<typeof createWriteStream> | undefined;
    let fileDone: Promise<void> = Promise.resolve();
    if (options.output) {
      const { maxBytes } = options.output;
      const out = createWriteStream(options.output.file, { flags: 'wx' });
      file = out;
      fileDone = new Promise((res, rej) => {
        out.once('close', res);
        out.once('error', rej);
      });
      child.stdout.on('data', (chunk: Buffer) => {
        written += chunk.length;
        if (written > maxBytes) return stop(`The directory makes a bundle larger than the limit of ${formatBytes(maxBytes)} ([Bundles] MaxUploadSize).`);
        if (!out.write(chunk)) {
          child.stdout.pause();
          out.once('drain', () => child.stdout.resume());
        }
      });
    } else {
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => {
        stdout += chunk;
        if (stdout.length > OUTPUT_LIMIT) stop('git printed more than 4 MiB; the repository has too many branches and tags.');
      });
    }
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      if (stderr.length < 64 * 1024) stderr += chunk;
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      clearInterval(sizeTimer);
      file?.destroy();
      reject(new GitError(`git could not be run (${executable}): ${err.message}`));
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      clearInterval(sizeTimer);
      file?.end();
      void fileDone
        .then(async () => {
          // A fetch that finished between two size checks is measured once more.
          if (!stopped && code === 0 && options.watch && (await directorySize(options.watch.dir)) > options.watch.maxBytes) {
            stopped = `The repository is larger than the limit of ${formatBytes(options.watch.maxBytes)} ([Git] MaxFetchSize).`;
          }
        })
        .then(
          () => {
            if (stopped) return reject(new GitError(stopped));
            if (code !== 0) return reject(new GitError(gitMessage(stderr, options.redact) || `git exited with code ${code}.`));
            resolve({ stdout, stderr });
          },
          (err: Error) => reject(err),
        );
    });
  });
}

/** git's error lines without "fatal: " prefixes and with the URL's password hidden. */
function gitMessage(stderr: string, redact?: [string, string]): string {
  let text = stderr
    .split('\n')
    .map((l) => l.replace(/^(fatal|error|remote): /, '').trim())
    .filter(Boolean)
    .join(' ');
  if (redact && redact[0] !== redact[1]) text = text.split(redact[0]).join(redact[1]);
  return text;
}

async function directorySize(dir: string): Promise<number> {
  let total = 0;
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const info = await stat(path.join(entry.parentPath, entry.name)).catch(() => null);
    total += info?.size ?? 0;
  }
  return total;
}

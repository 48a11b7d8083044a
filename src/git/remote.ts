// What Lectern accepts as a git location: a repository URL, a ref and a directory. Every value
// that reaches a git command line passes through here first, so none can be read as an option
// (`--upload-pack=…`), name a local path or another transport, or climb out of the repository.

/** Thrown for a location a user gave that Lectern will not fetch; the message says why. */
export class InvalidGitLocation extends Error {}

/**
 * Schemes Lectern fetches from: Connect's (https, recommended, and http). `git://` is refused
 * (unauthenticated and unencrypted, and Connect does not offer it); `file://`, `ssh://`, scp-style
 * `host:path` and `ext::` are refused too, because they would read the server's own disk or run
 * commands.
 */
const SCHEMES = new Set(['https:', 'http:']);

export interface RepositoryUrl {
  /** The URL exactly as git is given it. */
  href: string;
  /** The same with any password replaced, for logs and task output. */
  redacted: string;
}

export function parseRepositoryUrl(value: string): RepositoryUrl {
  const text = value.trim();
  if (!text) throw new InvalidGitLocation('The repository URL is empty.');
  if (/[\s\x00-\x1f\x7f]/.test(text)) throw new InvalidGitLocation('The repository URL must not contain spaces or control characters.');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidGitLocation(`"${text}" is not a URL: give the repository as https://host/path.`);
  }
  if (!SCHEMES.has(url.protocol)) {
    throw new InvalidGitLocation(`Repository URLs must use https:// (or http://); ${url.protocol.replace(/:$/, '')}:// is not supported.`);
  }
  if (!url.hostname) throw new InvalidGitLocation('The repository URL has no host.');
  const redactedUrl = new URL(url.href);
  if (redactedUrl.password) redactedUrl.password = '***';
  return { href: url.href, redacted: redactedUrl.href };
}

/**
 * A branch, tag or full commit name. Stricter than git's own rules (check-ref-format): only
 * letters, digits and `._/-`, no `..`, no leading `-` or `/`, so it can never be an option, a
 * refspec (`:`, `+`, `*`) or a revision expression (`^`, `~`, `@{`).
 */
export function validateRef(value: string, what = 'branch'): string {
  const ref = value.trim();
  if (!ref) throw new InvalidGitLocation(`The ${what} is empty.`);
  if (ref.length > 255) throw new InvalidGitLocation(`The ${what} name is longer than 255 characters.`);
  if (!/^[A-Za-z0-9._/-]+$/.test(ref)) throw new InvalidGitLocation(`"${ref}" is not a ${what} name Lectern accepts: use letters, digits, ".", "_", "/" and "-".`);
  if (ref.startsWith('-') || ref.startsWith('/') || ref.endsWith('/') || ref.endsWith('.') || ref.endsWith('.lock') || ref.includes('..') || ref.includes('//') || ref.includes('/.')) {
    throw new InvalidGitLocation(`"${ref}" is not a valid git ${what} name.`);
  }
  return ref;
}

/** A full commit id: fetched directly when no branch or tag has that name. */
export function isFullCommitId(ref: string): boolean {
  return /^[0-9a-f]{40}$/.test(ref) || /^[0-9a-f]{64}$/.test(ref);
}

/**
 * The directory inside the repository, as a relative path without `.` segments: "" is the
 * repository's root (given as ".", "/", "./" or ""). `..`, NUL and backslashes are refused.
 */
export function normalizeDirectory(value: string): string {
  if (/[\x00-\x1f\x7f\\]/.test(value)) throw new InvalidGitLocation('The directory must not contain control characters or backslashes.');
  const parts = value.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) throw new InvalidGitLocation(`The directory "${value}" must stay inside the repository (no "..").`);
  return parts.join('/');
}

/** How a directory is shown to users and stored: "." for the root, as Connect and its clients write it. */
export function displayDirectory(directory: string): string {
  return directory === '' ? '.' : directory;
}

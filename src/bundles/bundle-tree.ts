// The private directory an extraction writes into, and an exact picture of it: what every name is
// (directory, file, symbolic link) and where each link points. Nothing else writes to the directory
// meanwhile, so the picture lets each entry be checked before the file system would follow a link:
// no entry is written through a link or a file, every link resolves inside the bundle (as the
// kernel would resolve it, through the bundle's other links), and files are always new.
import { constants } from 'node:fs';
import { chmod, copyFile, lstat, mkdir, open, realpath, symlink, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { ReadEntry } from 'tar';
import { formatBytes } from '../util/bytes.js';
import { BundleError } from './extract.js';

const OPEN_NEW_FILE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** A name as it may appear in a message: control characters escaped, very long names shortened. */
export function shown(name: string): string {
  const escaped = name.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return escaped.length > 200 ? `${escaped.slice(0, 200)}…` : escaped;
}

/**
 * The relative name of an entry ('' for the bundle root), without `.` segments or a leading `./`.
 * `what` describes the name in messages ("entry 'x'", "hard link 'y' target 'x'").
 */
export function bundlePath(raw: string, what: string): string {
  if (raw.includes('\0')) throw new BundleError(`bundle ${what} has a NUL byte in its name`);
  if (raw.startsWith('/') || raw.startsWith('\\') || /^[A-Za-z]:[\\/]/.test(raw)) {
    throw new BundleError(`bundle ${what} has an absolute path, which is not allowed`);
  }
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  // A backslash is an ordinary character on Linux, but `..\` would be a parent reference elsewhere.
  if (parts.some((p) => p.split('\\').includes('..'))) throw new BundleError(`bundle ${what} escapes the bundle directory`);
  return parts.join('/');
}

export const tooLarge = (maxBytes: number) => new BundleError(`bundle exceeds the maximum size of ${formatBytes(maxBytes)}`);

type Kind = 'dir' | 'file' | 'symlink';

export class BundleTree {
  /** Bytes written, copies of hard links included. */
  bytes = 0;
  // Everything created so far, by relative path ('' is the root).
  private readonly nodes = new Map<string, Kind>([['', 'dir']]);
  private readonly symlinks = new Map<string, string>();

  constructor(
    readonly root: string,
    private readonly maxBytes: number,
    /** Waits for a chunk of a file's body, or rejects as soon as the extraction fails. */
    private readonly waitFor: <T>(promise: Promise<T>) => Promise<T>,
  ) {}

  kindOf(name: string): Kind | undefined {
    return this.nodes.get(name);
  }

  files(): string[] {
    return [...this.nodes]
      .filter(([, kind]) => kind === 'file')
      .map(([name]) => name)
      .sort();
  }

  abs(name: string): string {
    return name === '' ? this.root : path.join(this.root, name);
  }

  /**
   * Creates the missing parent directories of `name`, refusing to go through a link or a file, and
   * confirms with realpath that the parent is exactly where it should be.
   */
  private async prepareParent(name: string): Promise<void> {
    const parts = name.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      const kind = this.nodes.get(dir);
      if (kind === 'symlink') throw new BundleError(`bundle entry '${shown(name)}' would be written through the symbolic link '${shown(dir)}'`);
      if (kind === 'file') throw new BundleError(`bundle entry '${shown(name)}' is inside '${shown(dir)}', which is a file`);
      if (kind === undefined) await this.createDirectory(dir);
    }
    const parent = this.abs(parts.slice(0, -1).join('/'));
    if ((await realpath(parent)) !== parent) throw new BundleError(`bundle entry '${shown(name)}' resolves outside the bundle directory`);
  }

  private async createDirectory(name: string): Promise<void> {
    const dir = this.abs(name);
    await mkdir(dir, { mode: 0o755 });
    await chmod(dir, 0o755); // mkdir's mode is subject to the umask
    this.nodes.set(name, 'dir');
  }

  /** Makes way for a later entry with the same name (the last one wins); a directory cannot be replaced. */
  private async replace(name: string, kind: Kind): Promise<void> {
    const existing = this.nodes.get(name);
    if (existing === undefined) return;
    if (existing === 'dir' || kind === 'dir') {
      const other = existing === 'symlink' || kind === 'symlink' ? 'a symbolic link' : 'a file';
      throw new BundleError(`bundle has both a directory and ${other} named '${shown(name)}'`);
    }
    await unlink(this.abs(name)); // unlink never follows a link
    this.nodes.delete(name);
    this.symlinks.delete(name);
  }

  async makeDirectory(name: string): Promise<void> {
    await this.prepareParent(name);
    if (this.nodes.get(name) === 'dir') return;
    await this.replace(name, 'dir');
    await this.createDirectory(name);
  }

  async writeFile(name: string, entry: ReadEntry, mode: number): Promise<void> {
    await this.prepareParent(name);
    await this.replace(name, 'file');
    // O_EXCL and O_NOFOLLOW: a file is always new, never reached through a link.
    const handle = await open(this.abs(name), OPEN_NEW_FILE, 0o600);
    this.nodes.set(name, 'file');
    try {
      const chunks = entry[Symbol.asyncIterator]();
      for (;;) {
        const next = await this.waitFor(chunks.next());
        if (next.done) break;
        this.bytes += next.value.length;
        if (this.bytes > this.maxBytes) throw tooLarge(this.maxBytes);
        await writeAll(handle, next.value);
      }
      await handle.chmod(mode);
    } finally {
      await handle.close();
    }
  }

  async copyHardLink(name: string, target: string): Promise<void> {
    if (this.nodes.get(target) !== 'file') {
      throw new BundleError(`bundle entry '${shown(name)}' is a hard link to '${shown(target)}', which is not a file earlier in the bundle`);
    }
    if (target === name) return;
    await this.prepareParent(name);
    // A copy rather than a link, so the two names never share a later change; it counts as written bytes.
    const source = this.abs(target);
    this.bytes += (await lstat(source)).size;
    if (this.bytes > this.maxBytes) throw tooLarge(this.maxBytes);
    await this.replace(name, 'file');
    await copyFile(source, this.abs(name), constants.COPYFILE_EXCL);
    this.nodes.set(name, 'file');
  }

  async makeSymlink(name: string, target: string): Promise<void> {
    await this.prepareParent(name);
    await this.replace(name, 'symlink');
    this.nodes.set(name, 'symlink');
    this.symlinks.set(name, target);
    try {
      this.checkSymlink(name, target);
    } catch (err) {
      this.nodes.delete(name);
      this.symlinks.delete(name);
      throw err;
    }
    await symlink(target, this.abs(name));
  }

  private checkSymlink(name: string, target: string): void {
    const from = name.split('/').slice(0, -1);
    const resolved = this.follow(name, from, target, { hops: 40 });
    if (resolved === null) {
      throw new BundleError(`bundle entry '${shown(name)}' is a symbolic link to '${shown(target)}', which escapes the bundle directory`);
    }
  }

  /**
   * Resolves `target` from directory `from` as the kernel would, following the bundle's own links;
   * null when any step leaves the bundle directory. A later entry can change what an earlier link
   * resolves to, so all links are checked again once the whole archive is in place.
   */
  private follow(name: string, from: readonly string[], target: string, budget: { hops: number }): string[] | null {
    const at = [...from];
    for (const part of target.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (at.pop() === undefined) return null;
        continue;
      }
      at.push(part);
      const link = this.symlinks.get(at.join('/'));
      if (link === undefined) continue;
      if (--budget.hops < 0) throw new BundleError(`bundle entry '${shown(name)}' is part of a loop of symbolic links`);
      at.pop();
      const resolved = this.follow(name, at, link, budget);
      if (resolved === null) return null;
      at.splice(0, at.length, ...resolved);
    }
    return at;
  }

  async checkSymlinks(): Promise<void> {
    for (const [name, target] of this.symlinks) {
      this.checkSymlink(name, target);
      // And the file system's own answer, for links whose target exists.
      const real = await realpath(this.abs(name)).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'ELOOP' || err.code === 'ENOTDIR') return null;
        throw err;
      });
      if (real !== null && real !== this.root && !real.startsWith(this.root + path.sep)) {
        throw new BundleError(`bundle entry '${shown(name)}' is a symbolic link to '${shown(target)}', which escapes the bundle directory`);
      }
    }
  }
}
async function writeAll(handle: FileHandle, chunk: Buffer): Promise<void> {
  for (let offset = 0; offset < chunk.length; ) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
    offset += bytesWritten;
  }
}

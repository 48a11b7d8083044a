import { randomBytes } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { chmod, lstat, mkdir, open, readFile, realpath, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import { formatBytes } from '../util/bytes.js';
import { MAX_PACKAGE_FILE_BYTES } from './bundle-files.js';
import { BundleTree, bundlePath, shown, tooLarge } from './bundle-tree.js';
import { BundleError, type ExtractedBundle, type ExtractLimits } from './extract.js';
import { ManifestError, parseManifest, type Manifest } from './manifest.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const MAX_META_BYTES = 256 * KiB;
const MAX_MANIFEST_BYTES = 32 * MiB;
// Tar framing around each entry (header, padding, pax or GNU long-name records): allowed on top of
// maxBytes when bounding the decompressed stream, so data that is never written is bounded too.
const FRAMING_PER_ENTRY = 2 * KiB;
// Bodyless entries (directories, links) are handled asynchronously after the parser emits them;
// reading pauses while this many are waiting.
const MAX_PENDING = 256;
// Every archive may decompress to this much, whatever its compressed size: small bundles of many
// tiny files are mostly tar framing, which gzip shrinks about 100 times.
export const EXPANSION_FLOOR = 256 * MiB;

// Errors from the file system that the bundle's own content causes (names too long, and so on).
const BUNDLE_FS_ERRORS = new Set(['ENAMETOOLONG', 'ELOOP', 'ENOTDIR', 'EISDIR', 'EEXIST', 'EINVAL', 'EILSEQ']);

/**
 * Extracts an untrusted bundle (ARCHITECTURE.md §5), on the calling thread (extract.ts runs it on
 * a thread of its own). Every entry is checked before anything is written; only regular files,
 * directories and links that stay inside the bundle are accepted. The archive is read twice: a
 * first pass reads only the headers and refuses a bundle over a limit (too many files, sizes that
 * add up to too much, a forbidden name or type) before a single entry is written; the second
 * pass writes. Both are streamed, stop at the end-of-archive marker, and bound the bytes they
 * decompress, so a gzip bomb stops as soon as it crosses a limit. Extraction happens in a fresh
 * sibling of destDir, which is renamed to destDir only once the whole bundle and its
 * manifest.json are valid; on any error it is removed.
 */
export async function extractHere(archivePath: string, destDir: string, limits: ExtractLimits): Promise<ExtractedBundle> {
  // Not the bundle's fault, so a plain Error.
  if (await exists(destDir)) throw new Error(`cannot extract the bundle: ${destDir} already exists`);
  const format = await archiveFormat(archivePath);
  const parent = path.dirname(path.resolve(destDir));
  await mkdir(parent, { recursive: true });
  const temp = path.join(parent, `.tmp-${randomBytes(8).toString('hex')}`);
  await mkdir(temp, { mode: 0o700 });
  try {
    const root = await realpath(temp);
    const compressedBytes = (await stat(archivePath)).size;
    await new Extraction(root, limits, 'scan').run(archivePath, format, compressedBytes);
    const extraction = new Extraction(root, limits, 'write');
    await extraction.run(archivePath, format, compressedBytes);
    const manifest = await extraction.readManifest();
    await extraction.checkPackageFile(manifest);
    await chmod(temp, 0o755);
    if (await exists(destDir)) throw new Error(`cannot extract the bundle: ${destDir} already exists`);
    await rename(temp, destDir);
    return { files: extraction.files(), bytes: extraction.bytes, manifest };
  } catch (err) {
    await rm(temp, { recursive: true, force: true });
    throw err;
  }
}

async function exists(p: string): Promise<boolean> {
  return lstat(p).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return false;
      throw err;
    },
  );
}

async function archiveFormat(archivePath: string): Promise<'gzip' | 'tar'> {
  const handle = await open(archivePath, 'r');
  try {
    const head = Buffer.alloc(512);
    const { bytesRead } = await handle.read(head, 0, 512, 0);
    if (bytesRead >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
    // POSIX ("ustar\0") and GNU ("ustar ") headers both carry this magic.
    if (bytesRead === 512 && head.toString('latin1', 257, 262) === 'ustar') return 'tar';
  } finally {
    await handle.close();
  }
  throw new BundleError('bundle is not a gzip-compressed tar archive');
}

const DEVICE_KINDS: Readonly<Record<string, string>> = {
  CharacterDevice: 'a character device',
  BlockDevice: 'a block device',
  FIFO: 'a FIFO (named pipe)',
};

/**
 * One pass over the archive. 'scan' reads only headers and applies every check that needs no
 * file system; 'write' extracts into a private directory, which nothing else writes to meanwhile.
 */
class Extraction {
  private announcedBytes = 0;
  private fileCount = 0;
  private dirCount = 0;
  private readonly tree: BundleTree;
  private failure: Error | undefined;
  private readonly onFailure = new Set<(err: Error) => void>();
  private work: Promise<void> = Promise.resolve();
  private pending = 0;
  private wake: (() => void) | undefined;

  constructor(
    root: string,
    private readonly limits: ExtractLimits,
    private readonly pass: 'scan' | 'write',
  ) {
    this.tree = new BundleTree(root, limits.maxBytes, (promise) => this.unlessFailed(promise));
  }

  /** Bytes written (in the 'write' pass). */
  get bytes(): number {
    return this.tree.bytes;
  }

  files(): string[] {
    return this.tree.files();
  }

  async run(archivePath: string, format: 'gzip' | 'tar', compressedBytes: number): Promise<void> {
    // brotli/zstd off, and a second gzip layer is refused below: the parser must never decompress.
    const parser = new Parser({ strict: true, brotli: false, zstd: false, maxMetaEntrySize: MAX_META_BYTES });
    parser.on('entry', (entry: ReadEntry) => this.onEntry(entry));
    parser.on('ignoredEntry', (entry: ReadEntry) =>
      this.fail(
        entry.meta
          ? new BundleError(`bundle has an extended header of ${formatBytes(entry.size)}, more than the ${formatBytes(MAX_META_BYTES)} allowed`)
          : new BundleError(`bundle entry '${shown(entry.path)}' has the unsupported type ${entry.type}`),
      ),
    );
    // Pax and GNU long names arrive here before node-tar cuts them at the first NUL; GNU records
    // legitimately end in NULs.
    parser.on('meta', (text: string) => {
      if (text.replace(/\0+$/, '').includes('\0')) this.fail(new BundleError('bundle has an entry with a NUL byte in its name'));
    });
    parser.on('error', (err: Error) => this.fail(new BundleError(`bundle is not a valid tar archive: ${err.message.replace(/^TAR_[A-Z_]+: /, '')}`)));
    // Whatever follows the end-of-archive marker (two zero blocks) is not part of the bundle: tar
    // ignores it, and so does this, without reading it.
    let sawEnd = false;
    parser.on('eof', () => (sawEnd = true));
    const parsed = new Promise<void>((resolve) => parser.on('end', resolve));

    const streamLimit = this.limits.maxBytes + FRAMING_PER_ENTRY * 2 * (this.limits.maxFiles + 1) + MAX_META_BYTES;
    const ratio = this.limits.maxExpansionRatio ?? 0;
    const expansionLimit = format === 'gzip' && ratio > 0 ? Math.max(EXPANSION_FLOOR, ratio * compressedBytes) : Infinity;
    let streamed = 0;
    const feed = async (input: AsyncIterable<Buffer>) => {
      for await (const chunk of input) {
        if (this.failure) throw this.failure;
        if (streamed === 0 && chunk[0] === 0x1f && (chunk.length < 2 || chunk[1] === 0x8b)) {
          this.fail(new BundleError('bundle is not a gzip-compressed tar archive: it is compressed twice'));
          throw this.failure;
        }
        streamed += chunk.length;
        if (streamed > streamLimit) {
          this.fail(tooLarge(this.limits.maxBytes));
          throw this.failure;
        }
        if (streamed > expansionLimit) {
          this.fail(new BundleError(`bundle expands to more than ${ratio} times its compressed size of ${formatBytes(compressedBytes)}, the most allowed (setting Bundles.MaxExpansionRatio)`));
          throw this.failure;
        }
        // When the parser cannot take more it says so, and says 'drain' once it has emitted
        // everything it holds, the end-of-archive marker included.
        if (!parser.write(chunk)) await this.unlessFailed(new Promise((resolve) => parser.once('drain', resolve)));
        if (this.pending > MAX_PENDING) await this.unlessFailed(new Promise<void>((resolve) => (this.wake = resolve)));
        if (sawEnd) {
          // Returning from the loop closes the streams before they end: see the catch below.
          parser.end();
          await this.unlessFailed(parsed);
          return;
        }
      }
      if (this.failure) throw this.failure;
      // Tar writers emit whole 512-byte blocks; node-tar silently drops a final partial header.
      if (streamed % 512 !== 0) this.fail(new BundleError('bundle is not a valid tar archive: it ends in the middle of a block'));
      else parser.end();
      await this.unlessFailed(parsed);
    };
    try {
      const source = createReadStream(archivePath, { highWaterMark: 64 * KiB });
      if (format === 'gzip') await pipeline(source, createGunzip({ chunkSize: 64 * KiB }), feed);
      else await pipeline(source, feed);
    } catch (err) {
      const stoppedAtEnd = sawEnd && (err as NodeJS.ErrnoException).code === 'ABORT_ERR';
      if (!stoppedAtEnd) this.fail(isZlibError(err) ? new BundleError(`bundle is not a valid gzip-compressed tar archive: ${(err as Error).message}`, { cause: err }) : err);
    }
    // Let every started file-system operation finish, so nothing is written after the caller cleans up.
    await this.work;
    if (this.failure) throw this.failure;
    await this.tree.checkSymlinks();
  }

  async readManifest(): Promise<Manifest> {
    const kind = this.tree.kindOf('manifest.json');
    if (kind === 'symlink') throw new BundleError('bundle manifest.json is a symbolic link; it must be a regular file');
    if (kind !== 'file') throw new BundleError('bundle has no manifest.json at its root');
    const file = this.tree.abs('manifest.json');
    if ((await lstat(file)).size > MAX_MANIFEST_BYTES) throw new BundleError(`bundle manifest.json is larger than ${formatBytes(MAX_MANIFEST_BYTES)}`);
    const text = await readFile(file, { encoding: 'utf8', flag: constants.O_RDONLY | constants.O_NOFOLLOW });
    try {
      return parseManifest(text);
    } catch (err) {
      if (err instanceof ManifestError) throw new BundleError(`invalid manifest: ${err.reason}`, { cause: err });
      throw err;
    }
  }

  /** The package file the manifest names must be a regular file of the bundle, of bounded size. */
  async checkPackageFile(manifest: Manifest): Promise<void> {
    const name = manifest.python?.packageManager?.packageFile;
    if (!name) return;
    const named = `manifest.json names '${shown(name)}' as the package file`;
    const kind = this.tree.kindOf(name);
    if (kind === 'symlink') throw new BundleError(`${named}, but it is a symbolic link; it must be a regular file`);
    if (kind !== 'file') throw new BundleError(`${named}, but the bundle has no such file`);
    if ((await lstat(this.tree.abs(name))).size > MAX_PACKAGE_FILE_BYTES) throw new BundleError(`${named}, which is larger than ${formatBytes(MAX_PACKAGE_FILE_BYTES)}`);
  }

  private fail(err: unknown): void {
    if (this.failure) return;
    this.failure = err instanceof Error ? err : new Error(String(err));
    for (const reject of this.onFailure) reject(this.failure);
    this.onFailure.clear();
  }

  /**
   * `promise`, or a rejection as soon as the extraction fails. (Not Promise.race with one long-lived
   * promise: every race would stay attached to it, keeping each chunk it resolved with alive.)
   */
  private unlessFailed<T>(promise: Promise<T>): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<T>((resolve, reject) => {
      this.onFailure.add(reject);
      promise.then(
        (value) => {
          this.onFailure.delete(reject);
          resolve(value);
        },
        (err: unknown) => {
          this.onFailure.delete(reject);
          reject(err);
        },
      );
    });
  }

  /** Checks an entry as soon as the parser emits it and queues the work that creates it. */
  private onEntry(entry: ReadEntry): void {
    const isFile = entry.type === 'File' || entry.type === 'OldFile' || entry.type === 'ContiguousFile';
    // Only file bodies are read, and only when writing; anything else a header claims to carry is skipped.
    if (!isFile || this.pass === 'scan') entry.resume();
    if (this.failure) return;
    let job: (() => Promise<void>) | null;
    try {
      job = this.plan(entry, isFile);
    } catch (err) {
      this.fail(err);
      return;
    }
    if (!job || this.pass === 'scan') return;
    const name = entry.path;
    this.pending++;
    this.work = this.work.then(async () => {
      try {
        if (!this.failure) await job();
      } catch (err) {
        this.fail(asBundleError(err, name));
      } finally {
        this.pending--;
        if (this.pending <= MAX_PENDING / 2 && this.wake) {
          this.wake();
          this.wake = undefined;
        }
      }
    });
  }

  private plan(entry: ReadEntry, isFile: boolean): (() => Promise<void>) | null {
    const raw = entry.path;
    const device = DEVICE_KINDS[entry.type];
    if (device) throw new BundleError(`bundle entry '${shown(raw)}' is ${device}, which is not allowed`);
    const isLink = entry.type === 'SymbolicLink' || entry.type === 'Link';
    if (!isFile && !isLink && entry.type !== 'Directory') {
      throw new BundleError(`bundle entry '${shown(raw)}' has the unsupported type ${entry.type}`);
    }
    const name = bundlePath(raw, `entry '${shown(raw)}'`);
    if (entry.type === 'Directory') {
      if (name === '') return null;
      if (++this.dirCount > this.limits.maxFiles) throw new BundleError(`bundle has more than ${this.limits.maxFiles} directories`);
      return () => this.tree.makeDirectory(name);
    }
    if (name === '') throw new BundleError(`bundle entry '${shown(raw)}' names the bundle directory itself but is not a directory`);
    if (++this.fileCount > this.limits.maxFiles) throw new BundleError(`bundle has more than ${this.limits.maxFiles} files`);
    if (isFile) {
      // The header's size fails a bomb before any of it is inflated; the bytes written are counted too.
      this.announcedBytes += entry.size;
      if (this.announcedBytes > this.limits.maxBytes) throw tooLarge(this.limits.maxBytes);
      const mode = (entry.mode ?? 0) & 0o111 ? 0o755 : 0o644;
      return () => this.tree.writeFile(name, entry, mode);
    }
    const linkpath = entry.linkpath ?? '';
    if (entry.type === 'Link') {
      const target = bundlePath(linkpath, `entry '${shown(raw)}' (a hard link to '${shown(linkpath)}')`);
      return () => this.tree.copyHardLink(name, target);
    }
    if (linkpath.includes('\0')) throw new BundleError(`bundle entry '${shown(raw)}' is a symbolic link with a NUL byte in its target`);
    if (linkpath === '' || path.posix.isAbsolute(linkpath) || /^[A-Za-z]:[\\/]/.test(linkpath)) {
      throw new BundleError(`bundle entry '${shown(raw)}' is a symbolic link to '${shown(linkpath)}', outside the bundle directory`);
    }
    // A quick lexical check; the kernel's view, through the bundle's other links, is checked when it is created.
    const lexical = path.posix.normalize(path.posix.join(path.posix.dirname(name), linkpath));
    if (lexical === '..' || lexical.startsWith('../')) {
      throw new BundleError(`bundle entry '${shown(raw)}' is a symbolic link to '${shown(linkpath)}', which escapes the bundle directory`);
    }
    return () => this.tree.makeSymlink(name, linkpath);
  }
}

function isZlibError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && code.startsWith('Z_');
}

function asBundleError(err: unknown, name: string): unknown {
  if (err instanceof BundleError) return err;
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code && BUNDLE_FS_ERRORS.has(code)) return new BundleError(`bundle entry '${shown(name)}' could not be extracted (${code})`, { cause: err });
  return err;
}

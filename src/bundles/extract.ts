import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { copyFile, mkdir, open, readFile, realpath, rename, rm, stat, symlink } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import { ManifestError, parseManifest, type Manifest } from './manifest.js';

export class BundleError extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

export interface ExtractLimits {
  maxBytes: number;
  maxFiles: number;
}

const MiB = 1024 * 1024;
const describeSize = (n: number) => (n >= MiB ? `${Math.round(n / MiB)} MiB` : `${n} bytes`);

/**
 * Extracts an untrusted bundle into `destDir` (ARCHITECTURE §5): every entry is checked before it
 * is written, sizes are counted on the real decompressed bytes, and the result appears at destDir
 * only complete (extracted into a sibling temporary directory, then renamed).
 */
export async function extractBundle(archivePath: string, destDir: string, limits: ExtractLimits): Promise<{ files: string[]; bytes: number; manifest: Manifest }> {
  if (await stat(destDir).then(() => true, () => false)) throw new BundleError(`destination ${destDir} already exists`);
  const parent = path.dirname(destDir);
  await mkdir(parent, { recursive: true });
  const temp = path.join(parent, `.tmp-${randomBytes(6).toString('hex')}`);
  await mkdir(temp, { mode: 0o755 });
  try {
    const root = await realpath(temp);
    const result = await extractInto(archivePath, root, limits);
    let manifestText: string;
    try {
      manifestText = await readFile(path.join(root, 'manifest.json'), 'utf8');
    } catch {
      throw new BundleError('bundle has no manifest.json at its root');
    }
    let manifest: Manifest;
    try {
      manifest = parseManifest(manifestText);
    } catch (err) {
      if (err instanceof ManifestError) throw new BundleError(`invalid manifest: ${err.reason}`);
      throw err;
    }
    await rename(temp, destDir);
    return { ...result, manifest };
  } catch (err) {
    await rm(temp, { recursive: true, force: true });
    throw err;
  }
}

async function detectFormat(archivePath: string): Promise<'gzip' | 'tar'> {
  const handle = await open(archivePath, 'r');
  try {
    const head = Buffer.alloc(512);
    const { bytesRead } = await handle.read(head, 0, 512, 0);
    if (bytesRead >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
    if (bytesRead === 512 && head.subarray(257, 262).toString('latin1') === 'ustar') return 'tar';
  } finally {
    await handle.close();
  }
  throw new BundleError('bundle is not a gzip-compressed tar archive');
}

async function extractInto(archivePath: string, root: string, limits: ExtractLimits): Promise<{ files: string[]; bytes: number }> {
  const format = await detectFormat(archivePath);
  const files = new Set<string>();
  const links = new Set<string>();
  const dirs = new Set<string>(['']);
  const writes: Array<Promise<void>> = [];
  let bytes = 0;
  let entries = 0;
  let failure: Error | null = null;
  // Headers and padding add to the stream; allow for them on top of file bytes.
  const streamLimit = limits.maxBytes + 1024 * (limits.maxFiles + 16);
  let streamed = 0;

  const parser = new Parser({ strict: true });
  const fail = (err: Error) => {
    failure ??= err;
    parser.abort(err);
  };

  const safeName = (raw: string, kind: string): string => {
    if (raw.includes('\0')) throw new BundleError(`bundle ${kind} name contains a NUL byte`);
    if (raw.startsWith('/') || /^[A-Za-z]:[\\/]/.test(raw)) throw new BundleError(`bundle entry '${raw}' has an absolute path, which is not allowed`);
    const parts = raw.split(/[\\/]+/).filter((p) => p !== '' && p !== '.');
    if (parts.includes('..')) throw new BundleError(`bundle entry '${raw}' escapes the bundle directory`);
    return parts.join('/');
  };

  const checkParents = (name: string) => {
    const parts = name.split('/');
    for (let i = 1; i < parts.length; i++) {
      const prefix = parts.slice(0, i).join('/');
      if (links.has(prefix)) throw new BundleError(`bundle entry '${name}' would be written through the link '${prefix}'`);
      if (files.has(prefix)) throw new BundleError(`bundle entry '${name}' is inside '${prefix}', which is a file`);
    }
  };

  const ensureDir = async (rel: string) => {
    if (dirs.has(rel)) return;
    const target = path.join(root, rel);
    await mkdir(target, { recursive: true, mode: 0o755 });
    const real = await realpath(target);
    if (real !== target || !real.startsWith(root + path.sep)) throw new BundleError(`bundle directory '${rel}' escapes the bundle directory`);
    dirs.add(rel);
  };

  parser.on('entry', (entry: ReadEntry) => {
    if (failure) return entry.resume();
    try {
      const type = entry.type;
      if (type === 'Directory') {
        const name = safeName(entry.path, 'directory');
        entry.resume();
        if (name === '') return;
        checkParents(name + '/x');
        writes.push(ensureDir(name));
        return;
      }
      const name = safeName(entry.path, 'entry');
      if (name === '') throw new BundleError(`bundle entry '${entry.path}' has no name`);
      checkParents(name);
      if (++entries > limits.maxFiles) throw new BundleError(`bundle has more than ${limits.maxFiles} files`);
      const dir = path.posix.dirname(name) === '.' ? '' : path.posix.dirname(name);
      if (type === 'File' || type === 'OldFile' || type === 'ContiguousFile') {
        bytes += entry.size;
        if (bytes > limits.maxBytes) throw new BundleError(`bundle exceeds the maximum size of ${describeSize(limits.maxBytes)} when extracted`);
        files.add(name);
        links.delete(name);
        const mode = entry.mode && entry.mode & 0o111 ? 0o755 : 0o644;
        let out: WriteStream | null = null;
        const chunks: Buffer[] = [];
        let ended = false;
        // The directory may need creating first; hold the (bounded) data until the file is open.
        entry.on('data', (chunk: Buffer) => (out ? out.write(chunk) : chunks.push(chunk)));
        entry.on('end', () => {
          ended = true;
          out?.end();
        });
        writes.push(
          (async () => {
            await ensureDir(dir);
            const target = path.join(root, name);
            await rm(target, { force: true, recursive: true });
            out = createWriteStream(target, { flags: 'wx', mode });
            const done = new Promise<void>((resolve, reject) => {
              out!.on('close', resolve);
              out!.on('error', reject);
            });
            for (const c of chunks.splice(0)) out.write(c);
            if (ended) out.end();
            await done;
          })(),
        );
        return;
      }
      entry.resume();
      if (type === 'SymbolicLink') {
        const linkpath = entry.linkpath ?? '';
        if (linkpath.startsWith('/') || linkpath.includes('\0')) throw new BundleError(`bundle link '${name}' points to the absolute path '${linkpath}', outside the bundle`);
        const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(name), linkpath));
        if (resolved === '..' || resolved.startsWith('../') || resolved === '.') throw new BundleError(`bundle link '${name}' -> '${linkpath}' escapes the bundle directory`);
        links.add(name);
        writes.push(ensureDir(dir).then(() => symlink(linkpath, path.join(root, name))));
        return;
      }
      if (type === 'Link') {
        const target = safeName(entry.linkpath ?? '', 'hard link target');
        if (!files.has(target)) throw new BundleError(`bundle hard link '${name}' -> '${entry.linkpath}' does not point to an earlier file in the bundle`);
        files.add(name);
        // Copy rather than link: a later entry must not be able to change both names at once.
        const previous = [...writes];
        writes.push(ensureDir(dir).then(() => Promise.all(previous)).then(() => copyFile(path.join(root, target), path.join(root, name))));
        return;
      }
      const what: Record<string, string> = {
        CharacterDevice: 'a character device',
        BlockDevice: 'a block device',
        FIFO: 'a FIFO',
      };
      if (what[type]) throw new BundleError(`bundle entry '${name}' is ${what[type]}, which is not allowed`);
      throw new BundleError(`bundle entry '${name}' has unsupported type ${type}`);
    } catch (err) {
      entry.resume();
      fail(err as Error);
    }
  });
  parser.on('warn', (code: string, message: string) => {
    if (code === 'TAR_ENTRY_INVALID' || code === 'TAR_BAD_ARCHIVE' || code === 'TAR_ENTRY_ERROR') fail(new BundleError(`bundle is not a valid tar archive: ${message}`));
  });

  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      streamed += chunk.length;
      if (streamed > streamLimit) return done(new BundleError(`bundle exceeds the maximum size of ${describeSize(limits.maxBytes)} when extracted`));
      done(null, chunk);
    },
  });
  const source = format === 'gzip' ? createReadStream(archivePath).pipe(createGunzip()).pipe(meter) : createReadStream(archivePath).pipe(meter);
  try {
    const parsed = new Promise<void>((resolve, reject) => {
      parser.on('end', resolve);
      parser.on('abort', reject);
      parser.on('error', reject);
    });
    // Failures are reported through `failure`; keep the rejection from going unhandled.
    parsed.catch(() => undefined);
    for await (const chunk of source) {
      if (failure) break;
      if (!parser.write(chunk as Buffer)) await new Promise((resolve) => parser.once('drain', resolve));
    }
    if (!failure) parser.end();
    if (!failure) await parsed;
  } catch (err) {
    if (failure) throw failure;
    if (err instanceof BundleError) throw err;
    throw new BundleError(`bundle is not a valid gzip-compressed tar archive: ${(err as Error).message}`);
  } finally {
    source.destroy();
  }
  const settled = await Promise.allSettled(writes);
  if (failure) throw failure;
  const rejected = settled.find((s) => s.status === 'rejected');
  if (rejected) {
    const reason = (rejected as PromiseRejectedResult).reason;
    throw reason instanceof BundleError ? reason : new BundleError(`bundle could not be extracted: ${(reason as Error).message}`);
  }
  if (entries === 0 && dirs.size <= 1) throw new BundleError('bundle is not a valid tar archive: it has no entries');
  return { files: [...files].sort(), bytes };
}

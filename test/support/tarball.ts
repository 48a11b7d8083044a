import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip, gzipSync } from 'node:zlib';

export interface TarEntry {
  name: string;
  type?: 'file' | 'dir' | 'symlink' | 'hardlink' | 'chardev' | 'blockdev' | 'fifo';
  content?: string | Buffer;
  /** Body of this many zero bytes instead of `content`, generated while streaming (writeTarGz). */
  zeros?: number;
  linkname?: string;
  mode?: number;
  /** Records of a pax extended header written before the entry (e.g. { path: '...' }). */
  pax?: Record<string, string>;
  /** Raw type flag, overriding `type` (e.g. 'S' for a GNU sparse file). */
  typeflag?: string;
}

const TYPE_FLAGS = { file: '0', hardlink: '1', symlink: '2', chardev: '3', blockdev: '4', dir: '5', fifo: '6' } as const;

const octal = (n: number, width: number) => n.toString(8).padStart(width - 1, '0') + '\0';

/** One 512-byte ustar header, written by hand so that nothing is validated or normalized. */
function header(name: string, typeflag: string, size: number, mode: number, linkname = ''): Buffer {
  const block = Buffer.alloc(512);
  let prefix = '';
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', 155);
    if (cut <= 0 || Buffer.byteLength(name.slice(cut + 1)) > 100) throw new Error(`name too long for ustar, use pax: ${name}`);
    prefix = name.slice(0, cut);
    name = name.slice(cut + 1);
  }
  block.write(name, 0, 100, 'utf8');
  block.write(octal(mode & 0o7777, 8), 100, 8, 'latin1');
  block.write(octal(0, 8), 108, 8, 'latin1');
  block.write(octal(0, 8), 116, 8, 'latin1');
  block.write(octal(size, 12), 124, 12, 'latin1');
  block.write(octal(Math.floor(Date.now() / 1000), 12), 136, 12, 'latin1');
  block.write('        ', 148, 8, 'latin1');
  block.write(typeflag, 156, 1, 'latin1');
  block.write(linkname, 157, 100, 'utf8');
  block.write('ustar\0', 257, 6, 'latin1');
  block.write('00', 263, 2, 'latin1');
  block.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return block;
}

const padding = (size: number) => Buffer.alloc((512 - (size % 512)) % 512);

function paxRecords(records: Record<string, string>): Buffer {
  const lines = Object.entries(records).map(([key, value]) => {
    const body = ` ${key}=${value}\n`;
    // The length counts its own digits.
    const bodyLength = Buffer.byteLength(body);
    let length = bodyLength + 1;
    while (String(length).length + bodyLength !== length) length = String(length).length + bodyLength;
    return `${length}${body}`;
  });
  return Buffer.from(lines.join(''), 'utf8');
}

/** The blocks of one entry before its body, and the body's size. */
function entryHead(entry: TarEntry): { blocks: Buffer[]; size: number; body?: Buffer } {
  const type = entry.type ?? 'file';
  const body = type === 'file' && entry.zeros === undefined ? Buffer.from(entry.content ?? '') : undefined;
  const size = type === 'file' ? (entry.zeros ?? body!.length) : 0;
  const blocks: Buffer[] = [];
  if (entry.pax) {
    const records = paxRecords(entry.pax);
    blocks.push(header('PaxHeader/entry', 'x', records.length, 0o644), records, padding(records.length));
  }
  const mode = entry.mode ?? (type === 'dir' ? 0o755 : 0o644);
  blocks.push(header(entry.name, entry.typeflag ?? TYPE_FLAGS[type], size, mode, entry.linkname));
  return { blocks, size, body };
}

/**
 * A ustar archive built by hand, so tests can produce what a well-behaved tar writer refuses
 * ("..", absolute names, escaping links, devices, odd types).
 */
export function makeTar(entries: TarEntry[]): Buffer<ArrayBuffer> {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const { blocks: head, size, body } = entryHead(entry);
    blocks.push(...head, body ?? Buffer.alloc(size), padding(size));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

export const makeTarGz = (entries: TarEntry[]): Buffer<ArrayBuffer> => gzipSync(makeTar(entries));

/**
 * Streams a .tar.gz to `file` without holding bodies in memory: use `zeros` for huge entries (gzip
 * bombs), `trailingZeros` for bytes after the end-of-archive marker.
 */
export async function writeTarGz(file: string, entries: TarEntry[], options: { trailingZeros?: number } = {}): Promise<void> {
  async function* blocks() {
    const zeros = Buffer.alloc(1024 * 1024);
    for (const entry of entries) {
      const { blocks: head, size, body } = entryHead(entry);
      yield* head;
      if (body) yield body;
      else for (let left = size; left > 0; left -= zeros.length) yield left >= zeros.length ? zeros : zeros.subarray(0, left);
      yield padding(size);
    }
    yield Buffer.alloc(1024);
    for (let left = options.trailingZeros ?? 0; left > 0; left -= zeros.length) yield left >= zeros.length ? zeros : zeros.subarray(0, left);
  }
  await pipeline(Readable.from(blocks()), createGzip({ level: 1 }), createWriteStream(file));
}

import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { gzipSync } from 'node:zlib';
import { BundleError, extractBundle, type ExtractLimits } from '../../src/bundles/extract.js';
import { makeTar, makeTarGz, writeTarGz, type TarEntry } from '../support/tarball.js';

const MiB = 1024 * 1024;
const LIMITS: ExtractLimits = { maxBytes: 10 * MiB, maxFiles: 100 };
const STATIC = JSON.stringify({ version: 1, metadata: { appmode: 'static', primary_html: 'index.html' }, files: { 'index.html': { checksum: 'x' } } });
const manifest: TarEntry = { name: 'manifest.json', content: STATIC };

interface Sandbox {
  dir: string;
  apps: string;
  outside: string;
  dest: string;
  archive: string;
}

/** sandbox/apps holds destDir and the temporary directory; sandbox/outside is where escapes would land. */
async function sandbox(t: TestContext): Promise<Sandbox> {
  const dir = await mkdtemp(path.join(tmpdir(), 'lectern-extract-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const s = { dir, apps: path.join(dir, 'apps'), outside: path.join(dir, 'outside'), dest: path.join(dir, 'apps', '7'), archive: path.join(dir, 'bundle.tar.gz') };
  await mkdir(s.apps);
  await mkdir(s.outside);
  return s;
}

async function extract(t: TestContext, archive: TarEntry[] | Buffer, limits = LIMITS) {
  const s = await sandbox(t);
  await writeFile(s.archive, Buffer.isBuffer(archive) ? archive : makeTarGz(archive));
  return { s, result: await extractBundle(s.archive, s.dest, limits) };
}

/** Asserts that extraction fails with `message` and leaves nothing behind, inside or outside. */
async function refused(t: TestContext, archive: TarEntry[] | Buffer | ((s: Sandbox) => TarEntry[] | Promise<void>), message: string | RegExp, limits = LIMITS) {
  const s = await sandbox(t);
  if (typeof archive === 'function') {
    const entries = await archive(s);
    if (entries) await writeFile(s.archive, makeTarGz(entries));
  } else {
    await writeFile(s.archive, Buffer.isBuffer(archive) ? archive : makeTarGz(archive));
  }
  const started = performance.now();
  await assert.rejects(extractBundle(s.archive, s.dest, limits), (err: unknown) => {
    assert.ok(err instanceof BundleError, `expected a BundleError, got ${String(err)}`);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    assert.equal(err.reason, err.message);
    return true;
  });
  const elapsedMs = performance.now() - started;
  await assertClean(s);
  return { s, elapsedMs };
}

async function assertClean(s: Sandbox) {
  assert.deepEqual(await readdir(s.apps), [], 'no temporary directory or destDir is left');
  assert.deepEqual(await readdir(s.outside), [], 'nothing was written outside');
  assert.deepEqual((await readdir(s.dir)).sort(), ['apps', 'bundle.tar.gz', 'outside']);
}

const mode = async (p: string) => (await lstat(p)).mode & 0o7777;

test('extracts a static bundle with manifest.json first', async (t) => {
  const { s, result } = await extract(t, [manifest, { name: 'index.html', content: '<p>hi</p>' }, { name: 'css/site.css', content: 'p{}' }]);
  assert.deepEqual(result.files, ['css/site.css', 'index.html', 'manifest.json']);
  assert.equal(result.bytes, STATIC.length + 9 + 3);
  assert.equal(result.manifest.appMode, 'static');
  assert.equal(result.manifest.primaryHtml, 'index.html');
  assert.equal(await readFile(path.join(s.dest, 'index.html'), 'utf8'), '<p>hi</p>');
  assert.deepEqual(await readdir(s.apps), ['7']);
  assert.equal(await mode(s.dest), 0o755);
  assert.equal(await mode(path.join(s.dest, 'css')), 0o755);
});

test('extracts a bundle with manifest.json last, into a parent that does not exist yet', async (t) => {
  const s = await sandbox(t);
  await writeFile(s.archive, makeTarGz([{ name: 'index.html', content: 'x' }, manifest]));
  const dest = path.join(s.apps, 'content-1', '12');
  const result = await extractBundle(s.archive, dest, LIMITS);
  assert.deepEqual(result.files, ['index.html', 'manifest.json']);
  assert.deepEqual(await readdir(path.join(s.apps, 'content-1')), ['12']);
});

test('accepts R-style ./ entries with directory entries', async (t) => {
  const { s, result } = await extract(t, [
    { name: './', type: 'dir' },
    { name: './manifest.json', content: JSON.stringify({ version: 1, platform: '4.3.1', metadata: { appmode: 'shiny' }, files: { './app.R': {} } }) },
    { name: './R/', type: 'dir' },
    { name: './R/helpers.R', content: 'f <- function() 1' },
    { name: './app.R', content: 'library(shiny)' },
    { name: './www/', type: 'dir', mode: 0o777 },
    { name: './www/./img/', type: 'dir' },
    { name: './www/img/logo.png', content: Buffer.from([0x89, 0x50]) },
  ]);
  assert.deepEqual(result.files, ['R/helpers.R', 'app.R', 'manifest.json', 'www/img/logo.png']);
  assert.deepEqual(result.manifest.files, ['app.R']);
  assert.equal(result.manifest.r?.version, '4.3.1');
  assert.equal(await mode(path.join(s.dest, 'www')), 0o755);
  assert.equal((await readFile(path.join(s.dest, 'www/img/logo.png'))).length, 2);
});

test('accepts an uncompressed tar and long names from pax headers', async (t) => {
  const long = `${'d'.repeat(120)}/${'f'.repeat(120)}.txt`;
  const { s, result } = await extract(t, makeTar([manifest, { name: 'short', pax: { path: long }, content: 'long' }]));
  assert.deepEqual(result.files, [long, 'manifest.json']);
  assert.equal(await readFile(path.join(s.dest, long), 'utf8'), 'long');
});

test('sanitizes modes: no setuid, setgid or sticky bits; 0644 or 0755', async (t) => {
  const { s } = await extract(t, [
    manifest,
    { name: 'suid', content: '#!/bin/sh', mode: 0o4755 },
    { name: 'private', content: 'x', mode: 0o600 },
    { name: 'group-exec', content: 'x', mode: 0o2710 },
    { name: 'sticky/', type: 'dir', mode: 0o1777 },
  ]);
  assert.equal(await mode(path.join(s.dest, 'suid')), 0o755);
  assert.equal(await mode(path.join(s.dest, 'private')), 0o644);
  assert.equal(await mode(path.join(s.dest, 'group-exec')), 0o755);
  assert.equal(await mode(path.join(s.dest, 'manifest.json')), 0o644);
  assert.equal(await mode(path.join(s.dest, 'sticky')), 0o755);
});

test('duplicate entries: the last one wins', async (t) => {
  const { s, result } = await extract(t, [manifest, { name: 'a.txt', content: 'first' }, { name: './a.txt', content: 'second' }]);
  assert.deepEqual(result.files, ['a.txt', 'manifest.json']);
  assert.equal(await readFile(path.join(s.dest, 'a.txt'), 'utf8'), 'second');
});

test('keeps relative symlinks that stay inside, and copies hard links to earlier files', async (t) => {
  const { s, result } = await extract(t, [
    manifest,
    { name: 'data/2024.csv', content: 'a,b' },
    { name: 'latest.csv', type: 'symlink', linkname: 'data/2024.csv' },
    { name: 'data/current', type: 'symlink', linkname: '../data/./2024.csv' },
    { name: 'copy.csv', type: 'hardlink', linkname: './data/2024.csv' },
  ]);
  assert.deepEqual(result.files, ['copy.csv', 'data/2024.csv', 'manifest.json']);
  assert.equal(await readlink(path.join(s.dest, 'latest.csv')), 'data/2024.csv');
  assert.equal(await readFile(path.join(s.dest, 'data/current'), 'utf8'), 'a,b');
  assert.equal(await readFile(path.join(s.dest, 'copy.csv'), 'utf8'), 'a,b');
  assert.notEqual((await stat(path.join(s.dest, 'copy.csv'))).ino, (await stat(path.join(s.dest, 'data/2024.csv'))).ino);
});

test('refuses .. segments', async (t) => {
  await refused(t, [manifest, { name: '../x', content: 'x' }], "bundle entry '../x' escapes the bundle directory");
  await refused(t, [manifest, { name: 'a/../../x', content: 'x' }], "bundle entry 'a/../../x' escapes the bundle directory");
  await refused(t, [{ name: './..', type: 'dir' }, manifest], "bundle entry './..' escapes the bundle directory");
  await refused(t, [manifest, { name: 'x', pax: { path: '../../pax-escape' }, content: 'x' }], "bundle entry '../../pax-escape' escapes the bundle directory");
});

test('refuses absolute paths', async (t) => {
  await refused(t, (s) => [manifest, { name: path.join(s.outside, 'abs.txt'), content: 'x' }], /^bundle entry '\/.*\/outside\/abs\.txt' has an absolute path, which is not allowed$/);
  await refused(t, [manifest, { name: '/etc/evil', type: 'dir' }], "bundle entry '/etc/evil' has an absolute path, which is not allowed");
});

test('refuses names the file system cannot hold', async (t) => {
  const long = 'n'.repeat(300);
  await refused(t, [manifest, { name: 'x', pax: { path: long }, content: 'x' }], `bundle entry '${long.slice(0, 200)}…' could not be extracted (ENAMETOOLONG)`);
});

test('refuses NUL bytes in names', async (t) => {
  await refused(t, [manifest, { name: 'x', pax: { path: 'ok\0../../evil' }, content: 'x' }], 'bundle has an entry with a NUL byte in its name');
});

test('refuses symlinks that escape, absolutely or relatively', async (t) => {
  await refused(t, (s) => [manifest, { name: 'link', type: 'symlink', linkname: s.outside }], /^bundle entry 'link' is a symbolic link to '\/.*outside', outside the bundle directory$/);
  await refused(t, [manifest, { name: 'link', type: 'symlink', linkname: '/etc/passwd' }], "bundle entry 'link' is a symbolic link to '/etc/passwd', outside the bundle directory");
  await refused(t, [manifest, { name: 'sub/link', type: 'symlink', linkname: '../../outside' }], "bundle entry 'sub/link' is a symbolic link to '../../outside', which escapes the bundle directory");
  await refused(t, [manifest, { name: 'link', type: 'symlink', linkname: '..' }], "bundle entry 'link' is a symbolic link to '..', which escapes the bundle directory");
});

test('refuses symlinks that escape through other symlinks', async (t) => {
  // a/b/up is the bundle root itself, so a/b/up/.. is its parent although the text says a/b/x.
  await refused(
    t,
    [manifest, { name: 'a/b/', type: 'dir' }, { name: 'a/b/up', type: 'symlink', linkname: '../..' }, { name: 'e', type: 'symlink', linkname: 'a/b/up/../x' }],
    "bundle entry 'e' is a symbolic link to 'a/b/up/../x', which escapes the bundle directory",
  );
  // e is harmless when written; the later link a/q makes it escape.
  await refused(
    t,
    [manifest, { name: 'a/', type: 'dir' }, { name: 'e', type: 'symlink', linkname: 'a/q/../../x' }, { name: 'a/q', type: 'symlink', linkname: '../t' }],
    "bundle entry 'e' is a symbolic link to 'a/q/../../x', which escapes the bundle directory",
  );
  await refused(t, [manifest, { name: 'a', type: 'symlink', linkname: 'b' }, { name: 'b', type: 'symlink', linkname: 'a' }], "bundle entry 'b' is part of a loop of symbolic links");
});

test('never writes through a symlink created by an earlier entry', async (t) => {
  await refused(
    t,
    [manifest, { name: 'sub/', type: 'dir' }, { name: 'a', type: 'symlink', linkname: 'sub' }, { name: 'a/evil', content: 'x' }],
    "bundle entry 'a/evil' would be written through the symbolic link 'a'",
  );
  await refused(
    t,
    [manifest, { name: 'sub/', type: 'dir' }, { name: 'a', type: 'symlink', linkname: 'sub' }, { name: 'a/inner/', type: 'dir' }],
    "bundle entry 'a/inner' would be written through the symbolic link 'a'",
  );
  // The escaping link itself is refused first; nothing reaches the outside directory either way.
  await refused(t, (s) => [manifest, { name: 'a', type: 'symlink', linkname: s.outside }, { name: 'a/evil', content: 'x' }], /^bundle entry 'a' is a symbolic link to/);
  await refused(t, [manifest, { name: 'f', content: 'x' }, { name: 'f/g', content: 'y' }], "bundle entry 'f/g' is inside 'f', which is a file");
  await refused(t, [manifest, { name: 'd/', type: 'dir' }, { name: 'd', content: 'y' }], "bundle has both a directory and a file named 'd'");
  await refused(t, [manifest, { name: 'l', type: 'symlink', linkname: 'x' }, { name: 'l/', type: 'dir' }], "bundle has both a directory and a symbolic link named 'l'");
});

test('refuses hard links that escape or do not name an earlier file', async (t) => {
  await refused(t, [manifest, { name: 'hard', type: 'hardlink', linkname: '../../etc/passwd' }], "bundle entry 'hard' (a hard link to '../../etc/passwd') escapes the bundle directory");
  await refused(t, [manifest, { name: 'hard', type: 'hardlink', linkname: '/etc/passwd' }], "bundle entry 'hard' (a hard link to '/etc/passwd') has an absolute path, which is not allowed");
  await refused(
    t,
    [manifest, { name: 'hard', type: 'hardlink', linkname: 'later.txt' }, { name: 'later.txt', content: 'x' }],
    "bundle entry 'hard' is a hard link to 'later.txt', which is not a file earlier in the bundle",
  );
  await refused(
    t,
    [manifest, { name: 'dir/', type: 'dir' }, { name: 'hard', type: 'hardlink', linkname: 'dir' }],
    "bundle entry 'hard' is a hard link to 'dir', which is not a file earlier in the bundle",
  );
});

test('refuses devices, FIFOs and other entry types', async (t) => {
  await refused(t, [manifest, { name: 'dev/null', type: 'chardev' }], "bundle entry 'dev/null' is a character device, which is not allowed");
  await refused(t, [manifest, { name: 'disk', type: 'blockdev' }], "bundle entry 'disk' is a block device, which is not allowed");
  await refused(t, [manifest, { name: 'pipe', type: 'fifo' }], "bundle entry 'pipe' is a FIFO (named pipe), which is not allowed");
  await refused(t, [manifest, { name: 'sparse', typeflag: 'S', content: 'x' }], "bundle entry 'sparse' has the unsupported type SparseFile");
  await refused(t, [manifest, { name: 'dumpdir', typeflag: 'D', content: 'x' }], "bundle entry 'dumpdir' has the unsupported type GNUDumpDir");
});

/** Cuts the end off a file, so reading all of it fails: what a pass that stops early never notices. */
async function truncate(file: string, keep: number) {
  const data = await readFile(file);
  await writeFile(file, data.subarray(0, Math.floor(data.length * keep)));
}

test('stops a gzip bomb at its header, before inflating it', async (t) => {
  await refused(
    t,
    async (s) => {
      await writeTarGz(s.archive, [manifest, { name: 'zeros.bin', zeros: 200 * MiB }]);
      assert.ok((await stat(s.archive)).size < 2 * MiB);
      // Inflating the body would meet the cut and fail as a damaged gzip stream instead.
      await truncate(s.archive, 0.5);
    },
    'bundle exceeds the maximum size of 10 MiB',
  );
});

test('counts the bytes of many files and of hard-link copies against the limit', async (t) => {
  const files = Array.from({ length: 30 }, (_, i): TarEntry => ({ name: `part-${i}.bin`, zeros: MiB }));
  await refused(t, (s) => writeTarGz(s.archive, [manifest, ...files]), 'bundle exceeds the maximum size of 10 MiB');
  const links = Array.from({ length: 5 }, (_, i): TarEntry => ({ name: `copy-${i}`, type: 'hardlink', linkname: 'big' }));
  await refused(t, [manifest, { name: 'big', content: Buffer.alloc(3 * MiB) }, ...links], 'bundle exceeds the maximum size of 10 MiB');
});

test('stops reading at the end-of-archive marker: trailing zeros are neither read nor stored', async (t) => {
  const s = await sandbox(t);
  // 64 MiB of zeros after the marker gzip to about 65 KB: what once kept the tar parser busy for minutes.
  await writeTarGz(s.archive, [manifest, { name: 'index.html', content: '<p>hi</p>' }], { trailingZeros: 64 * MiB });
  // Cut inside the trailing zeros: a reader that went on past the marker would find a damaged gzip stream.
  await truncate(s.archive, 0.6);
  const result = await extractBundle(s.archive, s.dest, LIMITS);
  assert.deepEqual(result.files, ['index.html', 'manifest.json']);
  assert.equal(result.bytes, STATIC.length + 9);
});

test('refuses an archive that expands more than the ratio allows, with nothing written', async (t) => {
  // 300 MiB of zeros from about 1.3 MB: within the size limit, but over 200 times the upload.
  const bomb = (s: Sandbox) => writeTarGz(s.archive, [manifest, { name: 'data.bin', zeros: 300 * MiB }]);
  await refused(t, bomb, /^bundle expands to more than 100 times its compressed size of \d+(\.\d+)? [KM]iB, the most allowed \(setting Bundles\.MaxExpansionRatio\)$/, {
    maxBytes: 1024 * MiB,
    maxFiles: 10,
    maxExpansionRatio: 100,
  });
});

test('a bundle within the expansion floor is accepted whatever its ratio', async (t) => {
  const s = await sandbox(t);
  await writeTarGz(s.archive, [manifest, { name: 'data.bin', zeros: 20 * MiB }]);
  const result = await extractBundle(s.archive, s.dest, { ...LIMITS, maxBytes: 100 * MiB, maxExpansionRatio: 100 });
  assert.deepEqual(result.files, ['data.bin', 'manifest.json']);
});

test('refuses too many files before writing any of them', async (t) => {
  // Writing would fail first at x/y (x is a file); reading the headers first refuses the count.
  const files = Array.from({ length: 5 }, (_, i): TarEntry => ({ name: `f${i}`, content: 'x' }));
  await refused(t, [manifest, { name: 'x', content: 'x' }, { name: 'x/y', content: 'y' }, ...files], 'bundle has more than 3 files', { maxBytes: MiB, maxFiles: 3 });
});

test('refuses too many files or directories', async (t) => {
  const files = Array.from({ length: 5 }, (_, i): TarEntry => ({ name: `f${i}`, content: 'x' }));
  await refused(t, [manifest, ...files], 'bundle has more than 3 files', { maxBytes: MiB, maxFiles: 3 });
  const dirs = Array.from({ length: 5 }, (_, i): TarEntry => ({ name: `d${i}/`, type: 'dir' }));
  await refused(t, [manifest, ...dirs], 'bundle has more than 3 directories', { maxBytes: MiB, maxFiles: 3 });
});

test('requires a valid manifest.json at the root', async (t) => {
  await refused(t, [{ name: 'index.html', content: 'x' }], 'bundle has no manifest.json at its root');
  await refused(t, [{ name: 'sub/manifest.json', content: STATIC }], 'bundle has no manifest.json at its root');
  await refused(
    t,
    [
      { name: 'real.json', content: STATIC },
      { name: 'manifest.json', type: 'symlink', linkname: 'real.json' },
    ],
    'bundle manifest.json is a symbolic link; it must be a regular file',
  );
  await refused(t, [{ name: 'manifest.json', content: '{"version": 1,' }], /^invalid manifest: manifest\.json is not valid JSON: .+/);
  await refused(t, [{ name: 'manifest.json', content: '{"version":1,"metadata":{"appmode":"cobol"}}' }], "invalid manifest: manifest.json: metadata.appmode 'cobol' is not a known app mode");
});

test('refuses input that is not a gzip-compressed tar', async (t) => {
  await refused(t, Buffer.from('hello, this is not a tarball'), 'bundle is not a gzip-compressed tar archive');
  await refused(t, Buffer.alloc(0), 'bundle is not a gzip-compressed tar archive');
  await refused(t, gzipSync(Buffer.from('junk'.repeat(1000))), /^bundle is not a valid tar archive: /);
  await refused(t, gzipSync(Buffer.alloc(0)), /^bundle is not a valid tar archive: /);
  await refused(t, makeTarGz([manifest]).subarray(0, 40), /^bundle is not a valid gzip-compressed tar archive: unexpected end of file/);
  await refused(t, gzipSync(makeTarGz([manifest])), 'bundle is not a gzip-compressed tar archive: it is compressed twice');
  const tar = makeTar([manifest, { name: 'index.html', content: 'x'.repeat(2000) }]);
  await refused(t, gzipSync(tar.subarray(0, 1200)), 'bundle is not a valid tar archive: it ends in the middle of a block');
  await refused(t, gzipSync(tar.subarray(0, 2048)), /^bundle is not a valid tar archive: Truncated input/);
  const corrupt = Buffer.from(tar);
  corrupt.writeUInt8(corrupt.readUInt8(1024 + 10) ^ 0xff, 1024 + 10); // inside the second header: its checksum no longer matches
  await refused(t, gzipSync(corrupt), /^bundle is not a valid tar archive: /);
});

test('refuses to extract over an existing destination and leaves it alone', async (t) => {
  const s = await sandbox(t);
  await writeFile(s.archive, makeTarGz([manifest]));
  await mkdir(s.dest);
  await writeFile(path.join(s.dest, 'keep'), 'x');
  await assert.rejects(extractBundle(s.archive, s.dest, LIMITS), { message: `cannot extract the bundle: ${s.dest} already exists` });
  assert.deepEqual(await readdir(s.apps), ['7']);
  assert.deepEqual(await readdir(s.dest), ['keep']);
});

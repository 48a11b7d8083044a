import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rename, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { TestServer } from './lectern.js';
import { makeTarGz } from './tarball.js';

const run = promisify(execFile);

/** The R the tests use, as executionSettings({ r: true }) configures it (scripts/deps/r.sh installs it). */
export const R_BIN = '/usr/bin/R';
const RSCRIPT = '/usr/bin/Rscript';

async function rscript(code: string, args: string[] = [], cwd?: string): Promise<string> {
  const { stdout } = await run(RSCRIPT, ['--vanilla', '-e', code, ...args], { cwd, maxBuffer: 64 * 1024 * 1024, timeout: 300_000 });
  return stdout;
}

/** "4.2.2": what rsconnect writes as the manifest's `platform`. */
export async function rVersion(): Promise<string> {
  return (await rscript('cat(paste(R.version$major, R.version$minor, sep = "."))')).trim();
}

/** One entry of the manifest's `packages` map, as rsconnect writes it. */
export interface RPackageEntry {
  Source: string | null;
  Repository: string | null;
  description: Record<string, string>;
}

/**
 * Entries for installed packages and everything they depend on (what rsconnect's renv snapshot
 * records), with each package's complete DESCRIPTION. Base packages are left out, like rsconnect does.
 * Source and Repository are those of a CRAN install; this machine cannot reach CRAN, so a restore
 * only works by reusing the site library's copies.
 */
export async function installedPackageEntries(packages: string[]): Promise<Record<string, RPackageEntry>> {
  const code = `
    wanted <- commandArgs(TRUE)
    db <- installed.packages()
    db <- db[!duplicated(db[, "Package"]), , drop = FALSE]
    base <- rownames(db)[!is.na(db[, "Priority"]) & db[, "Priority"] == "base"]
    deps <- tools::package_dependencies(wanted, db = db, which = c("Depends", "Imports", "LinkingTo"), recursive = TRUE)
    all <- setdiff(unique(c(wanted, unlist(deps))), c(base, "R"))
    out <- lapply(all, function(p) as.list(read.dcf(system.file("DESCRIPTION", package = p))[1, ]))
    names(out) <- all
    cat(jsonlite::toJSON(out, auto_unbox = TRUE))
  `;
  const descriptions = JSON.parse(await rscript(code, packages)) as Record<string, Record<string, string>>;
  return Object.fromEntries(Object.entries(descriptions).map(([name, description]) => [name, { Source: 'CRAN', Repository: 'https://cloud.r-project.org', description }]));
}

export interface RBundleOptions {
  appmode: 'shiny' | 'rmd-shiny' | 'rmd-static' | 'api' | 'quarto-shiny';
  files: Record<string, string>;
  packages?: Record<string, RPackageEntry>;
  primaryRmd?: string;
  /** Extra top-level manifest keys (environment, quarto, ...). */
  extra?: Record<string, unknown>;
}

/** manifest.json as rsconnect's writeManifest() writes it (version 1, locale, platform, metadata, packages, files with MD5 checksums, users). */
export async function rManifest(options: RBundleOptions): Promise<Record<string, unknown>> {
  const packages = options.packages && Object.keys(options.packages).length > 0 ? options.packages : null;
  const files = Object.fromEntries(Object.entries(options.files).map(([name, text]) => [name, { checksum: createHash('md5').update(text).digest('hex') }]));
  return {
    version: 1,
    locale: 'en_US',
    platform: await rVersion(),
    metadata: {
      appmode: options.appmode,
      primary_rmd: options.primaryRmd ?? null,
      primary_html: null,
      content_category: null,
      has_parameters: false,
    },
    packages,
    files: Object.keys(files).length > 0 ? files : null,
    users: null,
    ...options.extra,
  };
}

/** A .tar.gz bundle with manifest.json and the files, as rsconnect uploads it. */
export async function rBundle(options: RBundleOptions): Promise<Buffer> {
  const manifest = await rManifest(options);
  return makeTarGz([{ name: 'manifest.json', content: JSON.stringify(manifest, null, 2) }, ...Object.entries(options.files).map(([name, content]) => ({ name, content }))]);
}

export interface DeployResult {
  guid: string;
  code: number;
  error: string;
  output: string[];
}

/**
 * Creates content (or uses `guid`), uploads the bundle and deploys it through the v1 API, waiting
 * for the task the way clients do (wait=1, paging through the output with `first`).
 */
export async function deployRBundle(t: TestServer, name: string, archive: Buffer, guid?: string): Promise<DeployResult> {
  if (!guid) {
    const created = await t.api('/__api__/v1/content', { method: 'POST', json: { name, title: name } });
    assert.equal(created.status, 200, await created.clone().text());
    guid = ((await created.json()) as { guid: string }).guid;
  }
  const uploaded = await t.api(`/__api__/v1/content/${guid}/bundles`, { method: 'POST', body: new Uint8Array(archive), headers: { 'content-type': 'application/gzip' } });
  assert.equal(uploaded.status, 200, await uploaded.clone().text());
  const bundleId = ((await uploaded.json()) as { id: string }).id;
  const deployed = await t.api(`/__api__/v1/content/${guid}/deploy`, { method: 'POST', json: { bundle_id: bundleId } });
  assert.equal(deployed.status, 202, await deployed.clone().text());
  const taskId = ((await deployed.json()) as { task_id: string }).task_id;
  const output: string[] = [];
  let first = 0;
  const deadline = Date.now() + 600_000;
  while (Date.now() < deadline) {
    const res = await t.api(`/__api__/v1/tasks/${taskId}?first=${first}&wait=1`);
    const task = (await res.json()) as { output: string[]; last: number; finished: boolean; code: number; error: string };
    output.push(...task.output);
    first = task.last;
    if (task.finished) return { guid, code: task.code, error: task.error, output };
  }
  throw new Error(`deploying ${name} did not finish; output so far:\n${output.join('\n')}`);
}

/** One version of a small pure-R package for a test repository. */
export interface RSourcePackage {
  name: string;
  version: string;
  /** R code of the package; every function in it is exported. */
  code: string;
  imports?: string[];
}

/**
 * A CRAN-like repository in a new temporary directory: each package built with R CMD build into
 * src/contrib, or src/contrib/Archive/<name>/ for all but a package's newest version (CRAN's
 * layout), indexed by tools::write_PACKAGES. Returns the directory and each version's DESCRIPTION
 * fields as R records them for an installed package (for manifests).
 */
export async function buildRRepository(packages: RSourcePackage[]): Promise<{ dir: string; descriptions: Map<string, Record<string, string>> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lectern-r-repo-'));
  const contrib = path.join(dir, 'src', 'contrib');
  await mkdir(contrib, { recursive: true });
  const newest = new Map<string, string>();
  const byVersion = (a: string, b: string) => {
    const pa = a.split(/[.-]/).map(Number);
    const pb = b.split(/[.-]/).map(Number);
    for (let i = 0; i < Math.max(pa.length, pb.length); i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
    return 0;
  };
  for (const p of packages) if (!newest.has(p.name) || byVersion(p.version, newest.get(p.name)!) > 0) newest.set(p.name, p.version);
  const descriptions = new Map<string, Record<string, string>>();
  for (const p of packages) {
    const src = path.join(dir, 'build', `${p.name}-${p.version}`, p.name);
    await mkdir(path.join(src, 'R'), { recursive: true });
    const description: Record<string, string> = {
      Package: p.name,
      Type: 'Package',
      Title: `Test Package ${p.name}`,
      Version: p.version,
      Author: 'Lectern tests',
      Maintainer: 'Lectern tests <tests@example.org>',
      Description: 'A package built by the Lectern tests.',
      License: 'MIT',
      Encoding: 'UTF-8',
    };
    if (p.imports?.length) description.Imports = p.imports.join(', ');
    await writeFile(
      path.join(src, 'DESCRIPTION'),
      Object.entries(description)
        .map(([k, v]) => `${k}: ${v}`)
        .join('\n') + '\n',
    );
    await writeFile(path.join(src, 'NAMESPACE'), 'exportPattern("^[^.]")\n' + (p.imports ?? []).map((i) => `import(${i})\n`).join(''));
    await writeFile(path.join(src, 'R', 'code.R'), p.code);
    await run(R_BIN, ['CMD', 'build', '--no-manual', '--no-build-vignettes', p.name], { cwd: path.dirname(src), timeout: 120_000 });
    const tarball = `${p.name}_${p.version}.tar.gz`;
    const target = newest.get(p.name) === p.version ? contrib : path.join(contrib, 'Archive', p.name);
    await mkdir(target, { recursive: true });
    await rename(path.join(path.dirname(src), tarball), path.join(target, tarball));
    descriptions.set(`${p.name}@${p.version}`, { ...description, NeedsCompilation: 'no' });
  }
  await rscript('tools::write_PACKAGES(commandArgs(TRUE)[1], type = "source")', [contrib]);
  return { dir, descriptions };
}

/**
 * Serves a directory over HTTP on 127.0.0.1. A repository must be reached over the network: restore
 * jobs run in the sandbox, which sees none of the host's /tmp (so file:// URLs to it do not work).
 */
export async function serveDirectory(dir: string): Promise<{ url: string; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  const server = http.createServer(async (req, res) => {
    const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push(pathname);
    const file = path.join(dir, path.normalize(pathname));
    if (!file.startsWith(dir + path.sep)) {
      res.writeHead(403).end();
      return;
    }
    const info = await stat(file).catch(() => null);
    if (!info?.isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-length': info.size, 'content-type': 'application/octet-stream' });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

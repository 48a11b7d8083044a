import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Kysely } from 'kysely';
import type { Bundle, Content, Database, User } from '../db/schema.js';
import { conflict, ErrorCode, LecternError, notFound } from '../errors.js';
import type { DataDir } from '../storage/data-dir.js';
import { formatBytes } from '../util/bytes.js';
import { apiTime, nowIso } from '../util/ids.js';
import { BundleError, extractBundle } from './extract.js';
import { ManifestError, type Manifest } from './manifest.js';

export interface BundleLimits {
  maxUploadBytes: number;
  maxExtractedBytes: number;
  maxFiles: number;
  maxExpansionRatio: number;
}

class UploadTooLarge extends Error {}

export class Bundles {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dataDir: DataDir,
    private readonly limits: BundleLimits,
  ) {}

  /**
   * Stores an uploaded archive and extracts it. The bundle row is written only after the archive
   * is complete and safely extracted, so a failed upload leaves nothing behind.
   */
  async upload(content: Content, user: User, body: Readable, readMetadata: () => Promise<Record<string, unknown>>): Promise<Bundle> {
    const archivesDir = this.dataDir.bundlesDir(content.id);
    const appsDir = this.dataDir.appsDir(content.id);
    await mkdir(archivesDir, { recursive: true });
    await mkdir(appsDir, { recursive: true });
    const tag = randomBytes(6).toString('hex');
    const pendingArchive = path.join(archivesDir, `.upload-${tag}.tar.gz`);
    const pendingApp = path.join(appsDir, `.pending-${tag}`);
    try {
      const md5 = createHash('md5');
      const sha1 = createHash('sha1');
      let size = 0;
      const limit = this.limits.maxUploadBytes;
      const meter = new Transform({
        transform(chunk: Buffer, _enc, done) {
          size += chunk.length;
          if (size > limit) return done(new UploadTooLarge());
          md5.update(chunk);
          sha1.update(chunk);
          done(null, chunk);
        },
      });
      // Not pipeline(body, …): that would destroy the request on a refusal, and with it the socket
      // the 413 answer must go out on. The rest of a refused body is drained instead.
      const stored = pipeline(meter, createWriteStream(pendingArchive, { flags: 'wx' }));
      const forwardError = (err: Error) => meter.destroy(err);
      body.once('error', forwardError);
      body.pipe(meter);
      try {
        await stored;
      } catch (err) {
        body.unpipe(meter);
        if (err instanceof UploadTooLarge) {
          body.resume();
          throw new LecternError('too_large', ErrorCode.BundleExtract, `The bundle is larger than the maximum upload size of ${formatBytes(limit)}.`);
        }
        throw err;
      } finally {
        body.off('error', forwardError);
      }
      const metadata = await readMetadata();
      if (size === 0) throw new LecternError('invalid', ErrorCode.BundleMissing, 'The request body is empty: upload the bundle as a gzip-compressed tar archive.');
      let manifest: Manifest;
      let files: string[];
      try {
        ({ manifest, files } = await extractBundle(pendingArchive, pendingApp, {
          maxBytes: this.limits.maxExtractedBytes,
          maxFiles: this.limits.maxFiles,
          maxExpansionRatio: this.limits.maxExpansionRatio,
        }));
      } catch (err) {
        if (err instanceof ManifestError) throw new LecternError('invalid', ErrorCode.InvalidManifest, `Invalid manifest: ${err.reason}`);
        if (err instanceof BundleError) {
          const code = /manifest/i.test(err.message) ? ErrorCode.InvalidManifest : ErrorCode.BundleExtract;
          throw new LecternError('invalid', code, err.message);
        }
        throw err;
      }
      const fullMetadata = { ...metadata, archive_md5: md5.digest('hex'), archive_sha1: sha1.digest('hex') };
      const bundle = await this.db
        .insertInto('bundles')
        .values({
          content_id: content.id,
          created_by: user.id,
          created_time: nowIso(),
          size,
          metadata: JSON.stringify(fullMetadata),
          // The manifest's own `files` map is often empty or null; record what was really extracted.
          manifest: JSON.stringify({ ...manifest, files }),
          app_mode: manifest.appMode,
          py_version: manifest.python?.version ?? null,
          r_version: manifest.r?.version ?? null,
          quarto_version: manifest.quarto?.version ?? null,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      try {
        await rename(pendingArchive, this.dataDir.bundleArchive(content.id, bundle.id));
        await rename(pendingApp, this.dataDir.appDir(content.id, bundle.id));
      } catch (err) {
        await this.db.deleteFrom('bundles').where('id', '=', bundle.id).execute();
        await rm(this.dataDir.bundleArchive(content.id, bundle.id), { force: true });
        throw err;
      }
      return bundle;
    } finally {
      await rm(pendingArchive, { force: true });
      await rm(pendingApp, { recursive: true, force: true });
    }
  }

  list(content: Content): Promise<Bundle[]> {
    return this.db.selectFrom('bundles').selectAll().where('content_id', '=', content.id).orderBy('id', 'desc').execute();
  }

  async get(content: Content, bundleId: string | number): Promise<Bundle> {
    const id = Number(bundleId);
    const bundle = Number.isInteger(id) ? await this.db.selectFrom('bundles').selectAll().where('content_id', '=', content.id).where('id', '=', id).executeTakeFirst() : undefined;
    if (!bundle) throw notFound(`Bundle ${bundleId} does not exist for content ${content.guid}.`, ErrorCode.BundleMissing);
    return bundle;
  }

  newest(content: Content): Promise<Bundle | undefined> {
    return this.db.selectFrom('bundles').selectAll().where('content_id', '=', content.id).orderBy('id', 'desc').limit(1).executeTakeFirst();
  }

  async delete(content: Content, bundle: Bundle): Promise<void> {
    if (content.bundle_id === bundle.id) throw conflict(`Bundle ${bundle.id} is the active bundle of this content and cannot be deleted.`, ErrorCode.DeleteActiveBundle);
    await this.db.deleteFrom('bundles').where('id', '=', bundle.id).execute();
    await rm(this.dataDir.bundleArchive(content.id, bundle.id), { force: true });
    await rm(this.dataDir.appDir(content.id, bundle.id), { recursive: true, force: true });
  }

  archivePath(bundle: Bundle): string {
    return this.dataDir.bundleArchive(bundle.content_id, bundle.id);
  }

  appDir(bundle: Bundle): string {
    return this.dataDir.appDir(bundle.content_id, bundle.id);
  }

  manifest(bundle: Bundle): Manifest {
    return JSON.parse(bundle.manifest ?? '{}') as Manifest;
  }

  /** `bundles` of `content` as the API shows them, with their creators' GUIDs. */
  async describe(content: Content, bundles: Bundle[]) {
    const creatorIds = [...new Set(bundles.map((b) => b.created_by).filter((id): id is number => id !== null))];
    const creators = creatorIds.length ? await this.db.selectFrom('users').select(['id', 'guid']).where('id', 'in', creatorIds).execute() : [];
    const guidById = new Map(creators.map((c) => [c.id, c.guid]));
    return bundles.map((b) => bundleJson(b, content, b.created_by === null ? null : (guidById.get(b.created_by) ?? null)));
  }

  async exists(bundle: Bundle): Promise<boolean> {
    return stat(this.appDir(bundle)).then(
      () => true,
      () => false,
    );
  }
}

export function bundleJson(bundle: Bundle, content: Content, creatorGuid: string | null) {
  const metadata = JSON.parse(bundle.metadata) as Record<string, unknown>;
  return {
    id: String(bundle.id),
    content_guid: content.guid,
    created_by: creatorGuid,
    created_time: apiTime(bundle.created_time),
    cluster_name: null,
    image_name: null,
    environment_guid: null,
    r_version: bundle.r_version,
    r_environment_management: null,
    py_version: bundle.py_version,
    py_environment_management: null,
    quarto_version: bundle.quarto_version,
    active: content.bundle_id === bundle.id,
    size: bundle.size,
    metadata: {
      source: null,
      source_repo: null,
      source_branch: null,
      source_commit: null,
      ...metadata,
    },
  };
}

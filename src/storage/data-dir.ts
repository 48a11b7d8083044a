import path from 'node:path';

/** The data directory layout (ARCHITECTURE §3); the same on local disk and shared storage. */
export class DataDir {
  constructor(readonly root: string) {}

  bundlesDir(contentId: number) {
    return path.join(this.root, 'bundles', String(contentId));
  }

  bundleArchive(contentId: number, bundleId: number) {
    return path.join(this.bundlesDir(contentId), `${bundleId}.tar.gz`);
  }

  appsDir(contentId: number) {
    return path.join(this.root, 'apps', String(contentId));
  }

  /** The extracted bundle, read-only to content processes. */
  appDir(contentId: number, bundleId: number) {
    return path.join(this.appsDir(contentId), String(bundleId));
  }

  jobsDir(contentId: number) {
    return path.join(this.root, 'jobs', String(contentId));
  }

  /** A job's private directory: `home` is writable by the job, `log.jsonl` only by the server. */
  jobDir(contentId: number, jobKey: string) {
    return path.join(this.jobsDir(contentId), jobKey);
  }

  /** Cached environments (Python venvs, R libraries), keyed by what they were built from. */
  envDir(kind: 'python' | 'r', key: string) {
    return path.join(this.root, 'envs', kind, key);
  }

  /** The output of one render of rendered content. */
  renderDir(contentId: number, renderId: number) {
    return path.join(this.outputDir(contentId), String(renderId));
  }

  outputDir(contentId: number) {
    return path.join(this.root, 'output', String(contentId));
  }

  secretKeyFile() {
    return path.join(this.root, 'secret.key');
  }

  /** Hash of the one-time first-run setup token (shared by replicas on shared storage). */
  setupTokenFile() {
    return path.join(this.root, 'setup-token');
  }

  /** Everything stored for one content item, removed when the item is deleted. */
  contentDirs(contentId: number) {
    return [this.bundlesDir(contentId), this.appsDir(contentId), this.jobsDir(contentId), this.outputDir(contentId)];
  }
}

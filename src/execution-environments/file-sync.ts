import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { AuditLog } from '../audit/audit-log.js';
import { sha256Hex } from '../util/ids.js';
import { parseEnvironmentsFile } from './definition-files.js';
import type { ExecutionEnvironments, SyncResult } from './environments.js';

export type SyncOutcome = { state: 'applied'; result: SyncResult } | { state: 'unchanged' } | { state: 'error'; message: string };

/**
 * Keeps the environments table in step with `[ExecutionEnvironments] ConfigFilePath`, live. It
 * watches the file's directory (editors and Kubernetes ConfigMap volumes replace the file rather
 * than write it in place) and re-reads on a timer as a safety net for file systems without
 * change events. A file that does not parse is logged and changes nothing: the last good state stays.
 */
export class ExecutionEnvironmentFileSync {
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  private debounce?: NodeJS.Timeout;
  private lastApplied?: string;
  private lastError?: string;
  private running: Promise<SyncOutcome> = Promise.resolve({ state: 'unchanged' });
  private closed = false;

  constructor(
    readonly file: string,
    private readonly environments: ExecutionEnvironments,
    private readonly audit: AuditLog,
    private readonly log: (msg: string) => void,
    private readonly checkIntervalMs: number,
  ) {}

  /** Applies the file once (a broken file at start-up is logged, not fatal), then follows it. */
  async start(): Promise<SyncOutcome> {
    const first = await this.apply();
    try {
      this.watcher = watch(path.dirname(this.file), { persistent: false }, () => this.schedule());
      this.watcher.on('error', (err) => this.log(`execution environments: stopped watching ${this.file}: ${err.message}`));
    } catch (err) {
      this.log(`execution environments: cannot watch ${path.dirname(this.file)} (${(err as Error).message}); re-reading every ${this.checkIntervalMs} ms`);
    }
    if (this.checkIntervalMs > 0) {
      this.timer = setInterval(() => this.schedule(), this.checkIntervalMs);
      this.timer.unref();
    }
    return first;
  }

  /** Reads and applies the file now; calls are serialised so two changes never interleave. */
  apply(): Promise<SyncOutcome> {
    this.running = this.running.then(
      () => this.applyOnce(),
      () => this.applyOnce(),
    );
    return this.running;
  }

  /** Resolves once any apply in progress has finished (tests, shutdown). */
  settled(): Promise<SyncOutcome> {
    return this.running;
  }

  close() {
    this.closed = true;
    this.watcher?.close();
    clearInterval(this.timer);
    clearTimeout(this.debounce);
  }

  private schedule() {
    if (this.closed) return;
    // Editors write in several steps; apply once they are done.
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.apply(), 100);
    this.debounce.unref();
  }

  private async applyOnce(): Promise<SyncOutcome> {
    if (this.closed) return { state: 'unchanged' };
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      return this.failed(`cannot read ${this.file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist' : (err as Error).message}`);
    }
    const digest = sha256Hex(text);
    if (digest === this.lastApplied) {
      this.lastError = undefined;
      return { state: 'unchanged' };
    }
    let defs;
    try {
      defs = parseEnvironmentsFile(text, this.file);
    } catch (err) {
      return this.failed((err as Error).message);
    }
    try {
      // Replicas following the same file may race on an insert; the loser's retry finds the rows.
      const result = await this.environments.sync(defs, this.file).catch(() => this.environments.sync(defs!, this.file));
      this.lastApplied = digest;
      this.lastError = undefined;
      const changes = describe(result);
      if (changes) {
        this.log(`execution environments: applied ${this.file}: ${changes}`);
        // The file is the authority, so its removals stand; say who is affected.
        const stranded = await this.environments.contentUsing(result.removed);
        if (stranded.length) {
          this.log(`execution environments: content still runs in removed images and cannot start new processes until redeployed: ${stranded.map((c) => `${c.guid} (${c.image_name})`).join(', ')}`);
        }
        await this.audit.record(null, 'sync_environments', `Applied ${this.file}: ${changes}`);
      }
      return { state: 'applied', result };
    } catch (err) {
      return this.failed(`applying ${this.file} failed: ${(err as Error).message}`);
    }
  }

  private failed(message: string): SyncOutcome {
    // Log a broken file once, not on every timer tick.
    if (message !== this.lastError) this.log(`execution environments: ${message}; keeping the environments as they were`);
    this.lastError = message;
    return { state: 'error', message };
  }
}

function describe(r: SyncResult): string {
  const parts = [
    r.created.length ? `created ${r.created.join(', ')}` : '',
    r.updated.length ? `updated ${r.updated.join(', ')}` : '',
    r.adopted.length ? `took over ${r.adopted.join(', ')}` : '',
    r.removed.length ? `removed ${r.removed.join(', ')}` : '',
  ].filter(Boolean);
  return parts.join('; ');
}

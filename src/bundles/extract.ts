import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Manifest } from './manifest.js';

/** A bundle that cannot be accepted; `reason` is a sentence fit to show to the publisher. */
export class BundleError extends Error {
  constructor(
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(reason, options);
    this.name = 'BundleError';
  }
}

export interface ExtractLimits {
  /** Total bytes of file content written. */
  maxBytes: number;
  /** Files and links; directories are bounded by the same number separately. */
  maxFiles: number;
  /**
   * Most times the decompressed archive may be larger than the compressed one (0: no bound),
   * beyond a floor every archive may use (EXPANSION_FLOOR in extraction.ts).
   */
  maxExpansionRatio?: number;
}

export interface ExtractedBundle {
  /** Relative paths of the regular files, sorted. */
  files: string[];
  bytes: number;
  manifest: Manifest;
}

/** What the extraction thread answers. */
export type ExtractionReply = { ok: true; bundle: ExtractedBundle } | { ok: false; bundleError: boolean; message: string; stack?: string };

// Heap for one extraction thread: the parser holds at most a chunk and one extended header.
const WORKER_HEAP_MB = 256;
const fromSource = path.extname(fileURLToPath(import.meta.url)) === '.ts';
const workerFile = new URL(`./extract-worker${fromSource ? '.ts' : '.js'}`, import.meta.url);

/**
 * Run from the TypeScript sources (tests, `tsx`), a worker does not inherit the parent's loader
 * hooks on Node 20, so it registers tsx itself before loading the worker module.
 */
function startWorker(options: ConstructorParameters<typeof Worker>[1]): Worker {
  if (!fromSource) return new Worker(workerFile, options);
  const tsx = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(workerFile.href)}); })`;
  return new Worker(bootstrap, { ...options, eval: true });
}

/**
 * Extracts an untrusted bundle into destDir (ARCHITECTURE.md §5), on a thread of its own: no
 * archive, however hostile, can hold up the event loop that serves requests.
 */
export function extractBundle(archivePath: string, destDir: string, limits: ExtractLimits): Promise<ExtractedBundle> {
  return new Promise((resolve, reject) => {
    const worker = startWorker({ workerData: { archivePath, destDir, limits }, resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB } });
    let settled = false;
    worker.once('message', (reply: ExtractionReply) => {
      settled = true;
      if (reply.ok) return resolve(reply.bundle);
      const err = reply.bundleError ? new BundleError(reply.message) : new Error(reply.message);
      if (reply.stack) err.stack = reply.stack;
      reject(err);
    });
    worker.once('error', (err) => {
      if (settled) return;
      settled = true;
      reject(new Error(`the bundle extraction thread failed: ${err.message}`, { cause: err }));
    });
    worker.once('exit', (code) => {
      if (settled) return;
      settled = true;
      reject(new Error(`the bundle extraction thread exited with code ${code} before answering`));
    });
  });
}

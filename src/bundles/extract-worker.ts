// The thread extractBundle (extract.ts) runs each extraction on.
import { parentPort, workerData } from 'node:worker_threads';
import { BundleError, type ExtractionReply, type ExtractLimits } from './extract.js';
import { extractHere } from './extraction.js';

const { archivePath, destDir, limits } = workerData as { archivePath: string; destDir: string; limits: ExtractLimits };
let reply: ExtractionReply;
try {
  reply = { ok: true, bundle: await extractHere(archivePath, destDir, limits) };
} catch (err) {
  const e = err instanceof Error ? err : new Error(String(err));
  reply = { ok: false, bundleError: e instanceof BundleError, message: e.message, stack: e instanceof BundleError ? undefined : e.stack };
}
parentPort!.postMessage(reply);

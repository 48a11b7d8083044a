import type { Bundles } from '../bundles/bundles.js';
import type { ImageSelection } from '../contract/execution-environments.js';
import type { Content } from '../db/schema.js';
import { badRequest, ErrorCode, invalidParameter } from '../errors.js';
import type { ContentExecution } from './content-execution.js';
import { runnerFor } from './runners.js';

/**
 * Which image a deploy of a bundle would run in, and why every other environment was passed
 * over: the explanation an editor reads when a deploy picked an unexpected image or none
 * (Lectern's own; Connect has no such report). Read-only: nothing is selected for real.
 */
export class ImageSelectionReport {
  constructor(
    private readonly bundles: Bundles,
    private readonly execution: ContentExecution,
  ) {}

  /** `bundleId` as the client sent it; by default the live bundle. */
  async explain(content: Content, bundleId: string | undefined): Promise<ImageSelection> {
    const id = bundleId ?? (content.bundle_id === null ? undefined : String(content.bundle_id));
    if (id === undefined) throw badRequest(`Content ${content.guid} has no deployed bundle; name one with ?bundle_id=.`, ErrorCode.BundleMissing);
    if (!/^\d+$/.test(id)) throw invalidParameter(`bundle_id must be a bundle id; got ${JSON.stringify(id)}.`);
    const bundle = await this.bundles.get(content, id);
    if (!this.execution.offHost) {
      return {
        off_host_execution: false,
        bundle_id: String(bundle.id),
        source: null,
        chosen: null,
        error: null,
        rejected: [],
        note: 'Off-host execution is off ([Launcher] Enabled and Kubernetes): content runs on local interpreters, not in images.',
      };
    }
    const manifest = this.bundles.manifest(bundle);
    if (runnerFor(manifest)?.serve === 'static') {
      return {
        off_host_execution: true,
        bundle_id: String(bundle.id),
        source: null,
        chosen: null,
        error: null,
        rejected: [],
        note: 'Static content is served by Lectern itself: it runs no process, so no image is selected.',
      };
    }
    const selection = await this.execution.selectImage(content, bundle);
    const live = bundle.id === content.bundle_id ? content.image_name : null;
    return {
      off_host_execution: true,
      bundle_id: String(bundle.id),
      requested: {
        image: manifest.environment.image ?? null,
        default_image_name: content.default_image_name,
        python: manifest.python?.version ?? null,
        r: manifest.r?.version ?? null,
        quarto: manifest.quarto?.version ?? null,
      },
      source: selection.source,
      chosen: selection.ok
        ? { guid: selection.environment.guid, name: selection.environment.name, title: selection.environment.title, reason: selection.reason, installations: selection.installations }
        : null,
      error: selection.ok ? null : selection.error,
      rejected: selection.rejected,
      /** The image the live bundle runs in now (a deploy re-selects; runs and renders keep it). */
      current_image_name: live,
    };
  }
}

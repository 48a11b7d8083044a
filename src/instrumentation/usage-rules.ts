import { appModeSpec } from '../content/app-modes.js';

/**
 * What a request to content counts as, decided once here (docs/instrumentation.md):
 * - every request the proxy serves is a hit (v1/instrumentation/content/hits);
 * - Shiny apps are counted by their websocket sessions (v1/instrumentation/shiny/usage), as
 *   Connect counts them, so none of their requests is a visit;
 * - for APIs every request is a visit (Connect: "requests to … APIs hosted on Connect");
 * - for everything else a visit is a page someone opened: a browser's navigation (Sec-Fetch-Dest
 *   document, iframe, frame, embed or object), or any GET from a client that sends no
 *   Sec-Fetch-Dest (scripts, curl, rsconnect's verification; they cannot be told apart). The
 *   scripts, styles, images, fonts and fetches a page loads are hits, not visits, which is what
 *   kept Connect's later visit counts from being inflated.
 */

/** Connect's visit records carry data version 3 (its default `min_data_version` for visits). */
export const VISIT_DATA_VERSION = 3;
/** Connect's Shiny usage records carry data version 1 (its default `min_data_version` for them). */
export const SHINY_DATA_VERSION = 1;

/** The app modes whose use Connect reports as Shiny sessions: R Shiny, Shiny documents, Shiny for Python. */
const SHINY_MODES = new Set(['shiny', 'rmd-shiny', 'quarto-shiny', 'python-shiny']);

const PAGE_DESTINATIONS = new Set(['document', 'iframe', 'frame', 'embed', 'object']);

export function isShinyMode(appMode: string): boolean {
  return SHINY_MODES.has(appMode);
}

/** Whether one request (not a websocket) to content of `appMode` is a visit. */
export function countsAsVisit(appMode: string, method: string | undefined, secFetchDest: string | undefined): boolean {
  if (SHINY_MODES.has(appMode)) return false;
  if (appModeSpec(appMode)?.group === 'api') return true;
  if (method !== 'GET') return false;
  return secFetchDest === undefined || PAGE_DESTINATIONS.has(secFetchDest);
}

import { closestInstallation, compareVersions, parseVersion, type VersionMatching } from '../runtimes/interpreters.js';
import type { InstallationDef, Installations, Matching } from './definition.js';

// Which image a bundle runs in (connect-offhost §2). Pure: the caller loads the environments and
// says which of them the publisher may use. Order:
//   1. the image the manifest names (environment.image),
//   2. else the content's default_image_name,
//   3. else automatically, among `matching: any` environments the publisher may use, the one whose
//      installations match the requested versions: closest versions first (summed distance on
//      each version line), then the newest installations (Python, then R, then Quarto), then the
//      image name in code-point order. Every other environment is listed with why it lost.

export type SelectedRuntime = 'python' | 'r' | 'quarto';
const RUNTIME_NAMES: Record<SelectedRuntime, string> = { python: 'Python', r: 'R', quarto: 'Quarto' };
const ORDER: SelectedRuntime[] = ['python', 'r', 'quarto'];

export interface CandidateEnvironment {
  guid: string;
  name: string;
  title: string;
  matching: Matching;
  installations: Installations;
  /** The publisher may use it (no restriction, or granted to them or one of their groups). */
  usable: boolean;
}

export interface SelectionRequest {
  /** The image the live bundle was deployed in: later runs, renders and rebuilds keep it. */
  deployedImage?: string | null;
  manifestImage?: string | null;
  defaultImageName?: string | null;
  /** The runtimes the bundle needs, with the version it asks for (undefined = any, newest wins). */
  wants: Partial<Record<SelectedRuntime, string | undefined>>;
  matching: Record<SelectedRuntime, VersionMatching>;
  environments: readonly CandidateEnvironment[];
  /** Named in messages, e.g. "the owner alice". */
  publisher: string;
}

export type SelectionSource = 'deployed' | 'manifest' | 'default_image_name' | 'automatic';

export interface Rejection {
  guid: string;
  name: string;
  reason: string;
}

export interface Selected {
  ok: true;
  source: SelectionSource;
  environment: CandidateEnvironment;
  installations: Partial<Record<SelectedRuntime, InstallationDef>>;
  /** Why: e.g. "closest match: Python 3.12.4 for 3.12.1". */
  reason: string;
  rejected: Rejection[];
}

export interface NotSelected {
  ok: false;
  source: SelectionSource;
  /** Names the versions wanted and the images considered. */
  error: string;
  rejected: Rejection[];
}

export type Selection = Selected | NotSelected;

interface Fit {
  installations: Partial<Record<SelectedRuntime, InstallationDef>>;
  distance: number;
}

export function selectEnvironment(request: SelectionRequest): Selection {
  const wanted = wantedText(request.wants);
  const named = request.deployedImage
    ? { image: request.deployedImage, source: 'deployed' as const, by: "the content's last deployment" }
    : request.manifestImage
      ? { image: request.manifestImage, source: 'manifest' as const, by: "the bundle's manifest (environment.image)" }
      : request.defaultImageName
        ? { image: request.defaultImageName, source: 'default_image_name' as const, by: "the content's default_image_name" }
        : undefined;

  if (named) {
    const rejected = request.environments.filter((e) => e.name !== named.image).map((e) => reject(e, `${named.by} names ${named.image}`));
    const env = request.environments.find((e) => e.name === named.image);
    const hint = named.source === 'deployed' ? ' Deploy the content again to choose another image.' : '';
    const fail = (why: string): NotSelected => ({
      ok: false,
      source: named.source,
      error: `${cap(named.by)} names image ${named.image}, but ${why}${hint}`,
      rejected: env ? [...rejected, reject(env, why)] : rejected,
    });
    if (!env) return fail(`it is not an execution environment of this server${listImages(request.environments)}.`);
    if (env.matching === 'none') return fail('that environment is disabled (matching: none).');
    if (!env.usable) return fail(`${request.publisher} may not use that environment.`);
    const fit = fits(env, request);
    if (typeof fit === 'string') return fail(`it ${fit}; the bundle needs ${wanted}.`);
    return { ok: true, source: named.source, environment: env, installations: fit.installations, reason: `named by ${named.by}`, rejected };
  }

  const rejected: Rejection[] = [];
  const compatible: Array<{ env: CandidateEnvironment; fit: Fit }> = [];
  for (const env of request.environments) {
    if (env.matching === 'none') rejected.push(reject(env, 'disabled (matching: none)'));
    else if (env.matching === 'exact') rejected.push(reject(env, 'used only when a manifest or default_image_name names it (matching: exact)'));
    else if (!env.usable) rejected.push(reject(env, `${request.publisher} may not use it`));
    else {
      const fit = fits(env, request);
      if (typeof fit === 'string') rejected.push(reject(env, fit));
      else compatible.push({ env, fit });
    }
  }
  compatible.sort((a, b) => a.fit.distance - b.fit.distance || newerFirst(a.fit, b.fit) || (a.env.name < b.env.name ? -1 : a.env.name > b.env.name ? 1 : 0));
  const [best, ...others] = compatible;
  if (!best) {
    const considered = request.environments.length ? request.environments.map((e) => e.name).join(', ') : 'none are defined';
    return { ok: false, source: 'automatic', error: `No execution environment can run this bundle, which needs ${wanted}. Images considered: ${considered}.`, rejected };
  }
  for (const other of others) rejected.push(reject(other.env, lostTo(other.fit, best.fit, best.env.name)));
  return { ok: true, source: 'automatic', environment: best.env, installations: best.fit.installations, reason: describeFit(best.fit, request.wants), rejected };
}

/** The installations an environment would use, or why it cannot serve the bundle. */
function fits(env: CandidateEnvironment, request: SelectionRequest): Fit | string {
  const installations: Fit['installations'] = {};
  let distance = 0;
  for (const runtime of ORDER) {
    if (!(runtime in request.wants)) continue;
    const requested = request.wants[runtime];
    const available = env.installations[runtime];
    const name = RUNTIME_NAMES[runtime];
    if (available.length === 0) return `has no ${name} installation`;
    const want = requested ? parseVersion(requested) : undefined;
    if (requested && !want) return `cannot match ${name} "${requested}", which is not a version number`;
    const best = closestInstallation(available, want, request.matching[runtime]);
    if (!best) {
      const have = [...available]
        .sort((a, b) => compareVersions(b.version, a.version))
        .map((i) => i.version)
        .join(', ');
      return `has no ${name} matching ${requested} (${request.matching[runtime]}): it has ${have}`;
    }
    installations[runtime] = best.installation;
    distance += best.distance;
  }
  return { installations, distance };
}

function newerFirst(a: Fit, b: Fit): number {
  for (const runtime of ORDER) {
    const x = a.installations[runtime];
    const y = b.installations[runtime];
    if (x && y) {
      const c = compareVersions(y.version, x.version);
      if (c !== 0) return c;
    }
  }
  return 0;
}

function lostTo(fit: Fit, winner: Fit, winnerName: string): string {
  if (fit.distance > winner.distance) return `compatible, but ${winnerName} is closer (${versionsOf(fit)} vs ${versionsOf(winner)})`;
  if (newerFirst(fit, winner) > 0) return `compatible and as close, but ${winnerName} has newer installations (${versionsOf(fit)} vs ${versionsOf(winner)})`;
  return `compatible, equally close and as new as ${winnerName}, which comes first by image name`;
}

function describeFit(fit: Fit, wants: SelectionRequest['wants']): string {
  const parts = ORDER.filter((r) => fit.installations[r]).map((r) => {
    const requested = wants[r];
    return `${RUNTIME_NAMES[r]} ${fit.installations[r]!.version}${requested ? ` for ${requested}` : ''}`;
  });
  return parts.length ? `closest compatible installations: ${parts.join(', ')}` : 'the bundle needs no interpreter; first usable environment by image name';
}

function versionsOf(fit: Fit): string {
  return (
    ORDER.filter((r) => fit.installations[r])
      .map((r) => `${RUNTIME_NAMES[r]} ${fit.installations[r]!.version}`)
      .join(', ') || 'no interpreter'
  );
}

function wantedText(wants: SelectionRequest['wants']): string {
  const parts = ORDER.filter((r) => r in wants).map((r) => (wants[r] ? `${RUNTIME_NAMES[r]} ${wants[r]}` : `any ${RUNTIME_NAMES[r]}`));
  return parts.length ? parts.join(', ') : 'no interpreter';
}

function listImages(envs: readonly CandidateEnvironment[]): string {
  return envs.length ? ` (it has ${envs.map((e) => e.name).join(', ')})` : ' (none are defined)';
}

function reject(env: CandidateEnvironment, reason: string): Rejection {
  return { guid: env.guid, name: env.name, reason };
}

function cap(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

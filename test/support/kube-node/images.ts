// The test bed's stand-in for container images: a file (JSON or YAML) mapping image names to host
// directories that play the image's file system content.
//
//   images:
//     ghcr.io/example/content:1:
//       paths:
//         /opt/python/3.11: /root/.pyenv/versions/3.11.9     # image path -> host directory (read-only)
//         /opt/R/4.4: /usr/lib/R
//       env: { LANG: C.UTF-8 }                              # the image's ENV
//       entrypoint: [/bin/sh, -c]                          # ENTRYPOINT / CMD, used when the container sets no command/args
//       cmd: [echo hi]
//       workingDir: /                                      # WORKDIR
//       user: 0                                            # USER (a uid): what runAsNonRoot checks when runAsUser is unset
//     busybox: {}                                          # the host's system directories only
//
// A value may also be just the `paths` mapping. Every image also sees the host's /usr, /bin, /lib*,
// /sbin and /etc read-only: the host's system stands in for every image's base layer.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';

export interface Image {
  paths: Record<string, string>;
  env: Record<string, string>;
  entrypoint?: string[];
  cmd?: string[];
  workingDir?: string;
  user?: number;
}

export type ImageSpec = Partial<Image> | Record<string, string>;
export type ImageMap = Record<string, ImageSpec>;

const FIELDS = ['paths', 'env', 'entrypoint', 'cmd', 'workingDir', 'user'];
/** The long form names at least one of the fields; otherwise the mapping is just `paths`. */
const isStructured = (spec: Record<string, unknown>) => FIELDS.some((k) => k in spec) || Object.keys(spec).length === 0;
const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads and checks the image map file (re-read on every pull, so a test can add images while the agent runs). */
export function loadImageMap(file: string): ImageMap {
  const text = readFileSync(file, 'utf8');
  const doc: unknown = /\.json$/i.test(file) ? JSON.parse(text) : parseYaml(text);
  if (!isMapping(doc) || !isMapping(doc.images)) throw new Error(`${file}: expected a top-level "images" mapping`);
  for (const [name, spec] of Object.entries(doc.images)) {
    if (spec === null) continue;
    if (!isMapping(spec)) throw new Error(`${file}: image ${name}: expected a mapping (paths, env, entrypoint, cmd, workingDir, user)`);
    const paths = isStructured(spec) ? spec.paths : spec;
    if (paths !== undefined && (!isMapping(paths) || Object.entries(paths).some(([target, source]) => !target.startsWith('/') || typeof source !== 'string' || !source.startsWith('/')))) {
      throw new Error(`${file}: image ${name}: paths must map absolute image paths to absolute host directories`);
    }
    if (spec.user !== undefined && !Number.isInteger(spec.user)) throw new Error(`${file}: image ${name}: user must be a numeric uid`);
  }
  return doc.images as ImageMap;
}

/** docker.io/library/python:3.11 and python:3.11 are the same image; a missing tag is :latest. */
export function normalizeImage(name: string): string {
  let n = name.trim();
  if (!/[:@][^/]*$/.test(n)) n += ':latest';
  const first = n.split('/')[0]!;
  const hasRegistry = n.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (!hasRegistry) n = `docker.io/${n.includes('/') ? n : `library/${n}`}`;
  return n;
}

export function resolveImage(map: ImageMap, name: string): Image | undefined {
  const wanted = normalizeImage(name);
  const key = Object.keys(map).find((k) => k === name) ?? Object.keys(map).find((k) => normalizeImage(k) === wanted);
  if (key === undefined) return undefined;
  const spec = (map[key] ?? {}) as Record<string, unknown>;
  const strings = (v: unknown) => (Array.isArray(v) ? v.map(String) : typeof v === 'string' ? [v] : undefined);
  if (!isStructured(spec)) return { paths: spec as Record<string, string>, env: {} };
  return {
    paths: (spec.paths as Record<string, string> | undefined) ?? {},
    env: Object.fromEntries(Object.entries((spec.env as Record<string, unknown> | undefined) ?? {}).map(([k, v]) => [k, String(v)])),
    entrypoint: strings(spec.entrypoint),
    cmd: strings(spec.cmd),
    workingDir: spec.workingDir as string | undefined,
    user: spec.user === undefined || spec.user === null ? undefined : Number(spec.user),
  };
}

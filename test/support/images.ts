// The images scripts/deps/kube-images.sh built: its index (images.tsv), the OCI config each layout
// holds (what a kubelet's runtime reads: user, entrypoint, env, working directory), and commands run
// inside an image with buildah, on the same storage the build used, as the image's own user.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const IMAGES_DIR = process.env.LECTERN_KUBE_IMAGES ?? path.join(os.homedir(), '.cache/lectern-tests/kube/images');
const INDEX = path.join(IMAGES_DIR, 'images.tsv');
/** Long enough for the content image's R to start on two busy cores, short enough to name a hang. */
const COMMAND_TIMEOUT_MS = 60_000;

export interface BuiltImage {
  /** As the test bed names it under its registry: `lectern-project/lectern:0.1.0`. */
  reference: string;
  layout: string;
  digest: string;
}

/** The subset of an OCI image config (image-spec config.md) these tests read. */
export interface ImageConfig {
  User?: string;
  Entrypoint?: string[];
  Cmd?: string[];
  Env?: string[];
  WorkingDir?: string;
  ExposedPorts?: Record<string, object>;
  Volumes?: Record<string, object>;
}

export function builtImages(): BuiltImage[] {
  assert.ok(existsSync(INDEX), `${INDEX} is missing: build the images with bash scripts/deps/kube-images.sh`);
  return readFileSync(INDEX, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [reference, layout, digest, ...rest] = line.split('\t');
      assert.ok(reference && layout && digest && rest.length === 0, `${INDEX}: malformed line ${JSON.stringify(line)}`);
      return { reference, layout, digest };
    });
}

/** The one image whose reference starts with `repository:` (no registry host). */
export function builtImage(repository: string): BuiltImage {
  const all = builtImages();
  const found = all.filter((image) => image.reference.startsWith(`${repository}:`));
  assert.equal(found.length, 1, `${INDEX} has ${found.length} images of ${repository} (it has ${all.map((i) => i.reference).join(', ')})`);
  return found[0]!;
}

const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
const blob = (layout: string, digest: string) => path.join(layout, 'blobs', ...digest.split(':'));

/** The layout's single manifest, which must be the digest images.tsv names, and its config. */
export function layoutConfig(image: BuiltImage): { config: ImageConfig; configDigest: string; layerBytes: number } {
  const index = readJson(path.join(image.layout, 'index.json')) as { manifests: Array<{ digest: string }> };
  assert.deepEqual(
    index.manifests.map((m) => m.digest),
    [image.digest],
    `${image.layout} holds exactly the manifest images.tsv names`,
  );
  const manifest = readJson(blob(image.layout, image.digest)) as { config: { digest: string }; layers: Array<{ size: number }> };
  const config = readJson(blob(image.layout, manifest.config.digest)) as { config?: ImageConfig; os: string; architecture: string };
  assert.equal(`${config.os}/${config.architecture}`, 'linux/amd64');
  return { config: config.config ?? {}, configDigest: manifest.config.digest, layerBytes: manifest.layers.reduce((sum, l) => sum + l.size, 0) };
}

export function envOf(config: ImageConfig): Record<string, string> {
  return Object.fromEntries((config.Env ?? []).map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]));
}

const buildah = (args: string[], timeout = COMMAND_TIMEOUT_MS) =>
  run('buildah', ['--root', path.join(IMAGES_DIR, '.storage/root'), '--runroot', path.join(IMAGES_DIR, '.storage/run'), '--storage-driver', 'overlay', ...args], {
    timeout,
    maxBuffer: 16 * 1024 * 1024,
  });

export interface RunResult {
  stdout: string;
  stderr: string;
}

/**
 * Runs `command` in a fresh container of the image, as the image's user (or `user`), in its working directory
 * and environment (buildah run applies the config; it does not prepend the entrypoint). The container
 * comes from the build's storage, so first check it is the image the layout holds (same config digest).
 */
export async function runIn(image: BuiltImage, command: string[], options: { volumes?: string[]; user?: string; env?: Record<string, string> } = {}): Promise<RunResult> {
  const { configDigest } = layoutConfig(image);
  const { stdout: id } = await buildah(['inspect', '--type', 'image', '--format', '{{.FromImageID}}', `localhost/${image.reference}`]);
  assert.equal(`sha256:${id.trim()}`, configDigest, `buildah's localhost/${image.reference} is not the image in ${image.layout}: rebuild with scripts/deps/kube-images.sh --force`);
  const { stdout: container } = await buildah(['from', '--pull=never', '--quiet', `localhost/${image.reference}`]);
  try {
    const flags = [
      ...(options.volumes ?? []).flatMap((v) => ['--volume', v]),
      ...(options.user ? ['--user', options.user] : []),
      ...Object.entries(options.env ?? {}).flatMap(([name, value]) => ['--env', `${name}=${value}`]),
    ];
    const { stdout, stderr } = await buildah(['run', '--isolation', 'chroot', ...flags, container.trim(), '--', ...command]);
    return { stdout, stderr };
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${command.join(' ')} in ${image.reference} failed: ${failed.message}\n${failed.stdout ?? ''}${failed.stderr ?? ''}`);
  } finally {
    await buildah(['rm', container.trim()]);
  }
}

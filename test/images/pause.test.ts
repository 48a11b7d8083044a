import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { builtImage, builtImages, layoutConfig, runIn } from '../support/images.js';

// The pause image (each pod's sandbox container): pause.c of the k8s.io/kubernetes the test bed's
// node runs, built with that module's own Dockerfile on scratch.

const ROOT = path.resolve(import.meta.dirname, '../..');
const KUBE_VERSION = readFileSync(path.join(ROOT, 'test/kube/controlplane/go.mod'), 'utf8').match(/^\s*k8s\.io\/kubernetes (v\S+)$/m)?.[1];
const image = builtImage('lectern-test/pause');

describe('pause image', () => {
  test('is the one image whose reference contains /pause:, which is how the test bed finds it', () => {
    assert.deepEqual(
      builtImages()
        .filter((i) => i.reference.includes('/pause:'))
        .map((i) => i.reference),
      [image.reference],
    );
  });

  test("keeps upstream's config: /pause as entrypoint, as 65535:65535", () => {
    const { config, layerBytes } = layoutConfig(image);
    assert.deepEqual(config.Entrypoint, ['/pause']);
    assert.equal(config.User, '65535:65535');
    // One static binary and nothing else (scratch base): well under a megabyte.
    assert.ok(layerBytes < 1024 * 1024, `${layerBytes} bytes of layers`);
  });

  test('runs: -v prints the version it was built as, from the pinned Kubernetes', async () => {
    const { stdout } = await runIn(image, ['/pause', '-v']);
    assert.equal(stdout.trim(), `pause.c v${image.reference.split(':')[1]}-${KUBE_VERSION}`);
  });
});

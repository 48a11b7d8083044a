// What a running test bed is: written by daemon.ts to <state dir>/testbed.json once everything is up,
// read by the tests (client.ts) and by scripts/kube-testbed.sh.
import os from 'node:os';
import path from 'node:path';
import type { NodeNetwork } from './network.js';
import type { PreparedNamespace } from './namespace.js';

export interface TestBedState {
  /** The daemon's pid (in the host's pid namespace). */
  pid: number;
  netns: string;
  /** Runs a command where the test bed's addresses are reachable: `nsenter --net=/run/netns/<netns>`. */
  exec: string;
  /** The API server on the namespace's loopback, and at the node's address (what pods use). */
  apiUrl: string;
  nodeApiUrl: string;
  caFile: string;
  /** The control plane's directory (its PKI, to issue more certificates). */
  caKeyDir: string;
  adminToken: string;
  adminKubeconfig: string;
  /** The static-token user "lectern", bound to Lectern's Role in `namespace`. */
  lecternToken: string;
  lecternKubeconfig: string;
  /** `127.0.0.1:<port>`; the node resolves docker.io, ghcr.io, quay.io and registry.k8s.io names here. */
  registry: string;
  /** `runtimeVersion` as the Node reports it: `containerd://2.4.2`. */
  node: { name: string; ip: string; kubeletVersion: string; runtimeVersion: string; dir: string };
  network: NodeNetwork;
  /** Image reference → digest, for every image pushed to the registry. */
  images: Record<string, string>;
  initImage: string;
  /** The namespace the daemon prepared for `lectern start` (tests make their own). */
  namespace: PreparedNamespace;
  timings: { controlPlaneMs: number; imagesMs: number; nodeMs: number; totalMs: number };
}

/** Where a test bed keeps its state; one test bed per state dir. */
export function testBedStateDir(): string {
  return process.env.KUBE_TESTBED_DIR ?? '/tmp/lectern-kube-testbed';
}

/**
 * Where the test bed's data volumes live: not under /tmp, because content pods mount an emptyDir at
 * /tmp and see the data volume at the same absolute paths as Lectern. `down` removes it.
 */
export function volumesDir(networkId: string): string {
  return `/var/tmp/lectern-kt-${networkId}`;
}

/** The index of images scripts/deps/kube-images.sh built. */
export function imagesIndexFile(): string {
  return path.join(process.env.LECTERN_KUBE_IMAGES ?? path.join(os.homedir(), '.cache', 'lectern-tests', 'kube', 'images'), 'images.tsv');
}

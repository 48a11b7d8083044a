// A whole Lectern in Kubernetes mode against the test bed, as an administrator would set it up off-host:
// a namespace of the test's own on the test bed's real node (Pod Security "restricted", Lectern's
// documented Role bound to its identity, the data dir on a volume claimed by `lectern-data`), and
// Lectern running outside the cluster with KubernetesAPIURL + token, in the test bed's network namespace.
// `startKubeTestBed` is the cluster side alone, for benchmarks that drive the launcher directly.
import type { SettingKey } from '../../src/config/settings.js';
import type { KubeApi } from '../../src/launcher/kubernetes/kube-api.js';
import { openTestBed, type TestBed } from './kube-testbed/client.js';
import { startLectern, type TestServer } from './lectern.js';

/** The test bed's content image (deploy/images/content-debian): its interpreters, as an environment names them. */
export interface ContentImage {
  image: string;
  python: { path: string; version: string };
  r: { path: string; version: string };
  uv: string;
}

/** The cluster side of the set-up, for a caller that drives the launcher itself rather than a Lectern. */
export interface KubeTestBed {
  bed: TestBed;
  /** A cluster-admin client, for what the test checks behind Lectern's back. */
  admin: KubeApi;
  namespace: string;
  nodeName: string;
  /** Lectern's data dir: the `lectern` sub-path of the volume behind the `lectern-data` claim. */
  dataDir: string;
  content: ContentImage;
  /** Lectern's settings for Kubernetes mode against this namespace. */
  settings: Partial<Record<SettingKey, string>>;
  stop(): Promise<void>;
}

/** `settings` here also hold the caller's, to start another server on the same data. */
export interface KubeLectern extends KubeTestBed {
  /** The current server; a test that replaces it assigns the new one here so `stop()` stops it. */
  t: TestServer | undefined;
  /** Starts another server on the same data and settings, reachable from pods as the first one was. */
  restart(): Promise<TestServer>;
}

/**
 * A content image of the test bed (`content-debian`, or `content-shiny`, the same with Shiny): its tag
 * says its versions (`r4.2.2-py3.11.2-bookworm`); its paths follow Posit's layout.
 */
export function contentImage(bed: TestBed, name = 'content-debian'): ContentImage {
  const image = bed.image(`/${name}:`);
  const tag = image.split(':').at(-1)!;
  const python = /py(\d+\.\d+\.\d+)/.exec(tag)?.[1];
  const r = /r(\d+\.\d+\.\d+)/.exec(tag)?.[1];
  if (!python || !r) throw new Error(`cannot read the Python and R versions from the content image's tag: ${image}`);
  return { image, python: { path: `/opt/python/${python}/bin/python`, version: python }, r: { path: `/opt/R/${r}/bin/R`, version: r }, uv: '/opt/uv/bin/uv' };
}

/** Everything but Lectern: a namespace of its own on the running test bed. */
export async function startKubeTestBed(prefix = 'lectern'): Promise<KubeTestBed> {
  const bed = await openTestBed();
  const ns = await bed.namespace(prefix);
  return {
    bed,
    admin: bed.admin,
    namespace: ns.namespace,
    nodeName: bed.state.node.name,
    dataDir: ns.dataDir,
    content: contentImage(bed),
    settings: { 'Server.ReplicaName': 'lectern-0', ...bed.lecternSettings(ns) },
    async stop() {
      await ns.remove();
      await bed.close();
    },
  };
}

/**
 * The test bed plus Lectern running off-host against it; `settings` are Lectern settings on top of
 * Kubernetes mode (a function of the test bed when they name paths inside its content image).
 */
export async function startKubeLectern(settings: Partial<Record<SettingKey, string>> | ((bed: KubeTestBed) => Partial<Record<SettingKey, string>>) = {}, prefix = 'lectern'): Promise<KubeLectern> {
  const bed = await startKubeTestBed(prefix);
  const all = { ...bed.settings, ...(typeof settings === 'function' ? settings(bed) : settings) };
  const kube: KubeLectern = {
    ...bed,
    settings: all,
    t: await startLectern('sqlite', all, { dataDir: bed.dataDir }, { publicHost: bed.bed.state.node.ip }),
    async restart() {
      kube.t = await startLectern('sqlite', all, { dataDir: bed.dataDir }, { publicHost: bed.bed.state.node.ip });
      return kube.t;
    },
    async stop() {
      await kube.t?.stop();
      await bed.stop();
    },
  };
  return kube;
}

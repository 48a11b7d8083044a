// A launcher double for tests of everything above the launcher in off-host mode (image selection,
// resources, the API, the dashboard) on a machine without a cluster: createApp({ launcher }) runs
// every job through it. The Kubernetes backend itself is tested against a real control plane in
// test/kube.
import type { Config } from '../../src/config/config.js';
import { RUNTIME_DIR } from '../../src/execution/runtime-dir.js';
import { buildJobManifests, type ManifestOptions } from '../../src/launcher/kubernetes/job-manifest.js';
import type { JobAddress, JobHandle, JobInfo, JobSpec, JobStatus, Launcher, LogLine } from '../../src/launcher/launcher.js';
import { LocalLauncher } from '../../src/launcher/local/local-launcher.js';
import { resolveRunAs } from '../../src/launcher/local/run-as-user.js';
import { Sandbox } from '../../src/launcher/local/sandbox.js';

/**
 * Runs each job on this machine (the local backend, unsandboxed: the image's interpreter paths are
 * this machine's) but answers as the Kubernetes backend does: named `kubernetes`, and a spec the
 * backend would refuse (no image, a variable name a pod cannot carry) is refused at submit with
 * its message, because each spec is first built into the Job manifest the cluster would get.
 * Every spec it is given is kept in `specs`, for tests that check what reached the backend.
 */
export class OffHostLauncherDouble implements Launcher {
  readonly name = 'kubernetes';
  /** Its processes are this machine's children, whatever the name says. */
  readonly outlivesServer = false;
  readonly specs: JobSpec[] = [];

  private constructor(
    private readonly local: LocalLauncher,
    private readonly manifest: ManifestOptions,
  ) {}

  /** For AppOptions.launcher: `startLectern(…, { launcher: OffHostLauncherDouble.create })`. */
  static async create(config: Config): Promise<OffHostLauncherDouble> {
    const runAs = config.get('Applications.RunAs');
    const sandbox = await Sandbox.create({ enabled: false, runAs, processLimit: config.get('Applications.ProcessLimit'), hidePaths: [] });
    const identity = await resolveRunAs(runAs, { create: true });
    return new OffHostLauncherDouble(new LocalLauncher(sandbox), {
      namespace: 'lectern-test',
      instance: 'test',
      replica: config.replicaName(),
      dataDir: config.dataDir(),
      dataVolume: { pvc: { claimName: 'lectern-data', subPath: '' } },
      runtimeDir: RUNTIME_DIR,
      initImage: 'lectern-init:test',
      initPullPolicy: 'IfNotPresent',
      runtimeDelivery: 'init-container',
      imagePullSecrets: [],
      serviceAccount: 'default',
      ttlSeconds: 600,
      batchDeadlineSeconds: 3600,
      runAs: { uid: identity.uid, gid: identity.gid },
    });
  }

  async submit(spec: JobSpec): Promise<JobHandle> {
    this.specs.push(spec);
    buildJobManifests(spec, { ...this.manifest, serviceAccount: spec.serviceAccount || this.manifest.serviceAccount });
    return this.local.submit(spec);
  }

  status(key: string): Promise<JobStatus> {
    return this.local.status(key);
  }

  wait(key: string): Promise<JobStatus> {
    return this.local.wait(key);
  }

  list(filter?: { contentGuid?: string }): Promise<JobInfo[]> {
    return this.local.list(filter);
  }

  logs(key: string, options?: { follow?: boolean; signal?: AbortSignal; logPath?: string }): AsyncIterable<LogLine> {
    return this.local.logs(key, options);
  }

  ready(key: string, options: { timeoutMs: number }): Promise<JobAddress> {
    return this.local.ready(key, options);
  }

  stop(key: string, options?: { graceMs?: number }): Promise<void> {
    return this.local.stop(key, options);
  }

  /** Local processes die with the server, so there is nothing to adopt (unlike pods). */
  reconcile(): Promise<string[]> {
    return this.local.reconcile();
  }

  close(): Promise<void> {
    return this.local.close();
  }
}

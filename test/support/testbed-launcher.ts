// Lectern's Kubernetes launcher on the test bed's real node, as tests in test/kube make it: with the
// documented Role only (the static-token user "lectern"), in a namespace of the test's own, its data
// dir on that namespace's local volume (the same directory on this host and in every pod).
import { chownSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { Config } from '../../src/config/config.js';
import { RUNTIME_DIR } from '../../src/execution/runtime-dir.js';
import type { KubernetesLauncher } from '../../src/launcher/kubernetes/kubernetes-launcher.js';
import { startKubernetesLauncher } from '../../src/launcher/kubernetes/start.js';
import type { JobSpec } from '../../src/launcher/launcher.js';
import type { TestBed } from './kube-testbed/client.js';
import type { PreparedNamespace } from './kube-testbed/namespace.js';

/** The uid content runs as in pods (and owns its job's home on the shared volume). */
export const CONTENT_UID = 1000;
/** The content image's system interpreter. */
export const IMAGE_PYTHON = '/usr/bin/python3';

/**
 * A worker for `python3 -c`: an HTTP server on the pod's port that answers with its own pid, so a
 * test can tell which process it reached. As PID 1 of its container a process ignores SIGTERM unless
 * it says otherwise (a stop would wait the grace period): this one ends at once.
 */
export const PID_SERVER = [
  'import http.server, os, signal',
  'signal.signal(signal.SIGTERM, lambda *_: os._exit(0))',
  'class H(http.server.BaseHTTPRequestHandler):',
  '    def do_GET(self):',
  '        body = str(os.getpid()).encode()',
  '        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)',
  '    def log_message(self, *a): pass',
  'http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["LECTERN_PORT"])), H).serve_forever()',
].join('\n');

export interface TestBedLaunchers {
  config(overrides?: Record<string, string>): Config;
  /** A started launcher (closed by closeAll()); `replica` names the Lectern replica it acts as. */
  launcher(overrides?: Record<string, string>, replica?: string): Promise<KubernetesLauncher>;
  /** A JobSpec for content 7 whose bundle directory (its cwd, on the shared volume) exists. */
  spec(overrides?: Partial<JobSpec>): JobSpec;
  closeAll(): Promise<void>;
}

export function testBedLaunchers(tb: TestBed, ns: PreparedNamespace): TestBedLaunchers {
  const launchers: KubernetesLauncher[] = [];
  // The init image the test bed pushed carries Lectern's version as its tag.
  const version = tb.state.initImage.split(':').at(-1)!;
  let counter = 0;
  const config = (overrides: Record<string, string> = {}) =>
    Config.load({
      env: {},
      overrides: { 'Server.DataDir': ns.dataDir, ...tb.lecternSettings(ns), 'Launcher.SchedulingTimeout': '1h', ...overrides } as never,
    });
  return {
    config,
    async launcher(overrides = {}, replica = 'replica-1') {
      const l = await startKubernetesLauncher({
        config: config(overrides),
        version,
        replica,
        runtimeDir: RUNTIME_DIR,
        runAs: { uid: CONTENT_UID, gid: CONTENT_UID },
        // What Lectern does on shared storage: the content user owns its job's home.
        prepareWritableDir: async (dir) => {
          mkdirSync(dir, { recursive: true });
          chownSync(dir, CONTENT_UID, CONTENT_UID);
        },
      });
      launchers.push(l);
      return l;
    },
    spec(overrides = {}) {
      const n = ++counter;
      const key = `Key${n}x${Date.now().toString(36)}`;
      const appDir = path.join(ns.dataDir, 'apps', '7', String(n));
      mkdirSync(appDir, { recursive: true });
      const jobDir = path.join(ns.dataDir, 'jobs', '7', key);
      return {
        key,
        kind: 'build',
        tag: 'python_restore',
        contentId: 7,
        contentGuid: `0b7c1f2e-1111-4222-8333-${String(n).padStart(12, '0')}`,
        bundleId: n,
        command: [IMAGE_PYTHON, '-c', 'print("hello")'],
        cwd: appDir,
        env: { LECTERN_APP_DIR: appDir, PATH: '/usr/bin:/bin' },
        mounts: [{ path: appDir, readOnly: true }],
        jobDir: path.join(jobDir, 'home'),
        logPath: path.join(jobDir, 'log.jsonl'),
        resources: { memoryLimitBytes: 256 * 1024 * 1024 },
        listen: false,
        image: tb.image('content-debian'),
        ...overrides,
      };
    },
    async closeAll() {
      for (const l of launchers) await l.close().catch(() => undefined);
    },
  };
}

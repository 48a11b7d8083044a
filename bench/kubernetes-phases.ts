// A whole Lectern in off-host mode on the test bed (control plane + a real node), measured through its
// HTTP API and the Kubernetes objects it creates:
//  0. the floor: a bare pod of the same image serving HTTP, created → Ready → first byte at its IP;
//  1. cold start by phase, for a python-api: request → Job created → pod scheduled → init container
//     done → Ready → first proxied byte (RUNS runs; every run starts from no pod);
//  2. warm pool: min_processes 1, then time to first byte from the already-running pod;
//  3. the init copy: runtime/'s size and file count, the init container's own run, and the copy alone;
//  4. a redeploy with an unchanged environment: restore Jobs and deploy time, first and second deploy.
// Phase times are taken twice: as this process's watch saw each object change (millisecond
// resolution), and from the objects' own timestamps (metav1.Time: whole seconds) as the processes
// table reports them, which must agree.
// Run: bash scripts/kube-testbed.sh run node --import tsx bench/kubernetes-phases.ts   (RUNTIME_DELIVERY=image-volume for that way)   (figures in bench/RESULTS.md)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { RUNTIME_DIR } from '../src/execution/runtime-dir.js';
import { Informer } from '../src/launcher/kubernetes/informer.js';
import { INIT_COMMAND, INIT_CONTAINER, LABELS } from '../src/launcher/kubernetes/job-manifest.js';
import type { KubeObject } from '../src/launcher/kubernetes/kube-api.js';
import { startKubeLectern } from '../test/support/kube-lectern.js';
import { waitForTask } from '../test/support/lectern.js';
import { makeTarGz } from '../test/support/tarball.js';

const RUNS = Number(process.env.RUNS ?? 10);
const WARM_RUNS = Number(process.env.WARM_RUNS ?? 20);
const APP = 'def app(environ, start_response):\n    start_response("200 OK", [("Content-Type", "text/plain")])\n    return [b"ok"]\n';

function bundle(managed: boolean, note = ''): Buffer<ArrayBuffer> {
  const manifest = {
    version: 1,
    metadata: { appmode: 'python-api', entrypoint: 'app:app' },
    python: { version: PYTHON_VERSION, package_manager: { name: 'pip', package_file: 'requirements.txt' } },
    ...(managed ? {} : { environment: { environment_management: { python: false } } }),
    files: { 'app.py': { checksum: '' }, 'requirements.txt': { checksum: '' } },
  };
  return makeTarGz([
    { name: 'manifest.json', content: JSON.stringify(manifest) },
    { name: 'app.py', content: APP + note },
    { name: 'requirements.txt', content: '' },
  ]);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const spread = (xs: number[]) => `median ${median(xs).toFixed(0)}, min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** When this process's watch first saw each step of a pod's (or Job's) life. */
interface Seen {
  created?: number;
  scheduled?: number;
  initRunning?: number;
  initDone?: number;
  ready?: number;
  object?: KubeObject;
}

const kube = await startKubeLectern(
  {
    'Python.PackageManager': 'pip',
    // An idle worker stops soon, so that each cold run starts from no pod.
    'Scheduler.IdleTimeout': '1s',
    // init-container (the default) or image-volume: how the runtime reaches the pod.
    ...(process.env.RUNTIME_DELIVERY ? { 'Launcher.RuntimeDelivery': process.env.RUNTIME_DELIVERY } : {}),
  },
  'bench',
);
const NS = kube.namespace;
const IMAGE = kube.content.image;
const PYTHON = kube.content.python.path;
const PYTHON_VERSION = kube.content.python.version;
const admin = kube.admin;
const pods = new Informer<KubeObject>(admin, `/api/v1/namespaces/${NS}/pods`, LABELS.jobKey);
const jobs = new Informer<KubeObject>(admin, `/apis/batch/v1/namespaces/${NS}/jobs`, LABELS.jobKey);
try {
  const seenPods = new Map<string, Seen>();
  const seenJobs = new Map<string, { created: number; tag: string }>();
  await pods.start();
  await jobs.start();
  jobs.on((type, job) => {
    if (type === 'added' && !seenJobs.has(job.metadata.name)) seenJobs.set(job.metadata.name, { created: performance.now(), tag: job.metadata.labels?.[LABELS.tag] ?? '' });
  });
  pods.on((type, pod) => {
    if (type === 'deleted') return;
    const now = performance.now();
    const s = seenPods.get(pod.metadata.name) ?? { created: now };
    seenPods.set(pod.metadata.name, s);
    s.object = pod;
    const conditions = (pod.status?.conditions ?? []) as Array<{ type: string; status: string }>;
    const is = (c: string) => conditions.some((x) => x.type === c && x.status === 'True');
    const init = ((pod.status?.initContainerStatuses ?? []) as Array<{ name: string; state?: { running?: unknown; terminated?: unknown } }>).find((c) => c.name === INIT_CONTAINER);
    if (s.scheduled === undefined && is('PodScheduled')) s.scheduled = now;
    if (s.initRunning === undefined && init?.state?.running) s.initRunning = now;
    if (s.initDone === undefined && init?.state?.terminated) s.initDone = now;
    if (s.ready === undefined && is('Ready')) s.ready = now;
  });

  const server = kube.t!;
  const env = await server.api('/__api__/v1/environments', {
    method: 'POST',
    json: { title: 'Python on the test bed', name: IMAGE, cluster_name: 'Kubernetes', matching: 'any', python: { installations: [{ version: PYTHON_VERSION, path: PYTHON }] } },
  });
  if (env.status !== 200) throw new Error(await env.text());

  async function deploy(guid: string, body: Buffer<ArrayBuffer>): Promise<{ ms: number; output: string[] }> {
    const uploaded = (await (await server.api(`/__api__/v1/content/${guid}/bundles`, { method: 'POST', body })).json()) as { id: string };
    const began = performance.now();
    const { task_id } = (await (await server.api(`/__api__/v1/content/${guid}/deploy`, { method: 'POST', json: { bundle_id: uploaded.id } })).json()) as { task_id: string };
    const task = await waitForTask(server, task_id);
    if (task.code !== 0) throw new Error(`deploy failed: ${task.error}\n${task.output.join('\n')}`);
    return { ms: performance.now() - began, output: task.output };
  }
  const podsOf = (guid: string) => pods.list().filter((p) => p.metadata.labels?.[LABELS.contentGuid] === guid && p.metadata.labels?.[LABELS.kind] === 'run');
  async function noWorkers(guid: string): Promise<void> {
    for (let i = 0; podsOf(guid).length; i++) {
      if (i > 600)
        throw new Error(
          `the idle worker was not stopped: ${JSON.stringify(podsOf(guid).map((p) => [p.metadata.name, p.status?.phase, p.metadata.deletionTimestamp, p.metadata.labels]))} ${JSON.stringify(server.app.scheduler.describe(1))}`,
        );
      await sleep(50);
    }
  }
  /** Time to the response's first byte (fetch resolves on the headers; the body is 2 bytes). */
  async function firstByte(guid: string): Promise<number> {
    const began = performance.now();
    const res = await fetch(`${server.url}/content/${guid}/`, { headers: { authorization: `Key ${server.adminKey}` } });
    const ms = performance.now() - began;
    const text = await res.text();
    if (res.status !== 200 || text !== 'ok') throw new Error(`content answered ${res.status}: ${text}`);
    return ms;
  }

  // ---------------------------------------------------------------------------------- 0. the floor
  console.log(`test bed: ${JSON.stringify(kube.bed.state.timings)} (scripts/kube-testbed.sh up, ms)`);
  const floor: Array<{ ready: number; firstByte: number }> = [];
  for (let i = 0; i < RUNS + 1; i++) {
    const name = `floor-${i}-${Date.now().toString(36)}`;
    const began = performance.now();
    await admin.create(`/api/v1/namespaces/${NS}/pods`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name },
      spec: {
        automountServiceAccountToken: false,
        securityContext: { runAsNonRoot: true, runAsUser: 999, seccompProfile: { type: 'RuntimeDefault' } },
        containers: [
          {
            name: 'server',
            image: IMAGE,
            command: [
              PYTHON,
              '-c',
              `import http.server as h\nclass O(h.BaseHTTPRequestHandler):\n  def do_GET(s):\n    s.send_response(200); s.end_headers(); s.wfile.write(b"ok")\nh.HTTPServer(("", 8080), O).serve_forever()`,
            ],
            securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
          },
        ],
      },
    });
    let ready = 0;
    let ip = '';
    for (let polls = 0; !ready; polls++) {
      if (polls > 6000) throw new Error(`the bare pod ${name} was not Ready in 60 s`);
      const pod = await admin.find(`/api/v1/namespaces/${NS}/pods/${name}`);
      if (pod?.status?.conditions?.some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True')) {
        ready = performance.now() - began;
        ip = pod.status.podIP;
      } else await sleep(10);
    }
    let firstByteMs = 0;
    for (let polls = 0; !firstByteMs; polls++) {
      if (polls > 6000) throw new Error(`the bare pod ${name} did not answer HTTP in 60 s`);
      try {
        if ((await fetch(`http://${ip}:8080/`)).ok) firstByteMs = performance.now() - began;
      } catch {
        await sleep(5);
      }
    }
    await admin.delete(`/api/v1/namespaces/${NS}/pods/${name}`);
    if (i > 0) floor.push({ ready, firstByte: firstByteMs });
  }
  console.log(`\nfloor: a bare pod of ${IMAGE}, ${floor.length} runs, ms from create: Ready ${spread(floor.map((f) => f.ready))}; first byte at its IP ${spread(floor.map((f) => f.firstByte))}`);

  // ---------------------------------------------------------------------------------- 1. cold start
  const { guid } = (await (await server.api('/__api__/v1/content', { method: 'POST', json: { name: 'bench-cold' } })).json()) as { guid: string };
  await deploy(guid, bundle(false));
  const cold: Array<{
    job: number;
    created: number;
    scheduled: number;
    initDone: number;
    ready: number;
    firstByte: number;
    initOwn: number;
    table: Record<string, number | null>;
    objects: Record<string, number>;
  }> = [];
  for (let i = 0; i < RUNS + 1; i++) {
    await noWorkers(guid);
    const before = new Set(seenPods.keys());
    const began = performance.now();
    const ttfb = await firstByte(guid);
    // Lectern may route before the pod's Ready condition lands (it connects to the worker itself), and
    // the watch may see a change after the response: wait, bounded, until the pod was seen Ready.
    let name: string | undefined;
    for (let polls = 0; polls < 200; polls++) {
      name = [...seenPods.keys()].find((n) => !before.has(n) && podsOf(guid).some((p) => p.metadata.name === n));
      if (name && seenPods.get(name)?.ready !== undefined) break;
      await sleep(50);
    }
    const s = name ? seenPods.get(name) : undefined;
    const jobName = s?.object?.metadata.labels?.['job-name'] ?? s?.object?.metadata.ownerReferences?.[0]?.name;
    const job = jobName ? seenJobs.get(jobName) : undefined;
    if (!s?.object || !job || s.scheduled === undefined || s.ready === undefined) throw new Error(`run ${i}: the worker's pod was not seen through its phases`);
    // The processes table, as Lectern reports the same pod (seconds from pod creation).
    const processes = (await (await server.api('/__api__/v1/system/processes')).json()) as Array<{
      pod?: { name: string; scheduled_seconds: number | null; initialized_seconds: number | null; ready_seconds: number | null };
    }>;
    const row = processes.find((p) => p.pod?.name === name)?.pod;
    const pod = s.object;
    const created = Date.parse(pod.metadata.creationTimestamp!);
    const condition = (type: string) => Date.parse(((pod.status?.conditions ?? []) as Array<{ type: string; lastTransitionTime: string }>).find((c) => c.type === type)!.lastTransitionTime);
    // None with [Launcher] RuntimeDelivery = image-volume.
    const initTerm = ((pod.status?.initContainerStatuses ?? []) as Array<{ name: string; state: { terminated: { startedAt: string; finishedAt: string } } }>).find((c) => c.name === INIT_CONTAINER)
      ?.state.terminated;
    const result = {
      job: job.created - began,
      created: s.created! - began,
      scheduled: s.scheduled - began,
      initDone: s.initDone !== undefined ? s.initDone - began : NaN,
      ready: s.ready - began,
      firstByte: ttfb,
      initOwn: s.initRunning !== undefined && s.initDone !== undefined ? s.initDone - s.initRunning : NaN,
      table: { scheduled: row?.scheduled_seconds ?? null, initialized: row?.initialized_seconds ?? null, ready: row?.ready_seconds ?? null },
      objects: {
        scheduled: (condition('PodScheduled') - created) / 1000,
        initialized: (condition('Initialized') - created) / 1000,
        ready: (condition('Ready') - created) / 1000,
        initOwn: initTerm ? (Date.parse(initTerm.finishedAt) - Date.parse(initTerm.startedAt)) / 1000 : NaN,
      },
    };
    // The first run warms Lectern's own code paths and connections; it is reported but not counted.
    console.log(`${i === 0 ? 'warm-up' : `run ${i}`}: ${JSON.stringify(result, (_k, v) => (typeof v === 'number' ? Math.round(v * 10) / 10 : v))}`);
    if (i > 0) cold.push(result);
  }
  console.log(`\ncold start, ${cold.length} runs, ms from the request (median, min, max):`);
  for (const phase of ['job', 'created', 'scheduled', 'initDone', 'ready', 'firstByte'] as const) console.log(`  ${phase.padEnd(10)} ${spread(cold.map((r) => r[phase]))}`);
  console.log(
    `  phase durations: job→scheduled ${spread(cold.map((r) => r.scheduled - r.job))}; scheduled→init done ${spread(cold.map((r) => r.initDone - r.scheduled))}; init done→ready ${spread(cold.map((r) => r.ready - r.initDone))}; ready→first byte ${spread(cold.map((r) => r.firstByte - r.ready))}`,
  );
  const agree = cold.every((r) => r.table.scheduled === r.objects.scheduled && r.table.initialized === r.objects.initialized && r.table.ready === r.objects.ready);
  console.log(`  processes table = the pods' own condition times: ${agree}; ready_seconds values ${JSON.stringify(cold.map((r) => r.table.ready))}`);

  // ---------------------------------------------------------------------------------- 2. warm pool
  const patched = await server.api(`/__api__/v1/content/${guid}`, { method: 'PATCH', json: { min_processes: 1, idle_timeout: 3600 } });
  if (patched.status >= 300) throw new Error(await patched.text());
  for (let i = 0; !podsOf(guid).some((p) => seenPods.get(p.metadata.name)?.ready !== undefined); i++) {
    if (i > 600) throw new Error('min_processes started no pod');
    await sleep(50);
  }
  await sleep(500);
  const warmPod = podsOf(guid)[0]!.metadata.name;
  const warm: number[] = [];
  for (let i = 0; i < WARM_RUNS; i++) warm.push(await firstByte(guid));
  const samePod = podsOf(guid).length === 1 && podsOf(guid)[0]!.metadata.name === warmPod;
  console.log(`\nwarm pool (min_processes 1), ${WARM_RUNS} requests, first byte ms: ${spread(warm)}; all served by the one pod started before: ${samePod}`);

  // ---------------------------------------------------------------------------------- 3. init copy
  const files = (dir: string): Array<{ size: number }> =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : [{ size: statSync(path.join(dir, e.name)).size }]));
  const runtimeFiles = files(RUNTIME_DIR);
  const copies: number[] = [];
  for (let i = 0; i < 20; i++) {
    const target = mkdtempSync(path.join('/var/tmp', 'lectern-init-copy-'));
    const began = performance.now();
    execFileSync(INIT_COMMAND[0]!, [...INIT_COMMAND.slice(1, -2), `${RUNTIME_DIR}/.`, `${target}/`]);
    copies.push(performance.now() - began);
    rmSync(target, { recursive: true, force: true });
  }
  console.log(`\nruntime/: ${runtimeFiles.length} files, ${(runtimeFiles.reduce((a, f) => a + f.size, 0) / 1024).toFixed(1)} KiB`);
  console.log(`init container, running → terminated as the watch saw it (includes the kubelet's status writes), ms: ${spread(cold.map((r) => r.initOwn))}`);
  console.log(`init container, its own startedAt → finishedAt (whole seconds): ${JSON.stringify(cold.map((r) => r.objects.initOwn))}`);
  console.log(
    `the copy alone (${INIT_COMMAND.join(' ')} on this host, 20 runs), ms: median ${median(copies).toFixed(1)}, min ${Math.min(...copies).toFixed(1)}, max ${Math.max(...copies).toFixed(1)}`,
  );

  // ------------------------------------------------------------------ 4. redeploy, unchanged environment
  const managed = (await (await server.api('/__api__/v1/content', { method: 'POST', json: { name: 'bench-env' } })).json()) as { guid: string };
  const restoreJobs = () => [...seenJobs.values()].filter((j) => j.tag === 'python_restore').length;
  const r0 = restoreJobs();
  const first = await deploy(managed.guid, bundle(true));
  const r1 = restoreJobs();
  const second = await deploy(managed.guid, bundle(true, '# changed app code, same requirements\n'));
  const r2 = restoreJobs();
  const line = (out: string[]) => out.find((l) => /Python environment|Restoring/.test(l)) ?? '(no environment line)';
  console.log(`\nfirst deploy (managed Python, empty requirements.txt): ${first.ms.toFixed(0)} ms, restore Jobs ${r1 - r0}: ${line(first.output)}`);
  console.log(`redeploy, unchanged environment: ${second.ms.toFixed(0)} ms, restore Jobs ${r2 - r1}: ${line(second.output)}`);
  console.log(
    `\nload average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}; ${new Date().toISOString()}`,
  );
} finally {
  await pods.stop();
  await jobs.stop();
  await kube.stop();
}

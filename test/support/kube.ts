import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Agent, fetch } from 'undici';

const execFileAsync = promisify(execFile);

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A user of the test bed's static token file. */
export interface KubeUser {
  name: string;
  token: string;
  /** A kubeconfig file for this user (server, CA file and token). */
  kubeconfig: string;
}

export interface ControlPlane {
  /** https://127.0.0.1:<port> — the kube-apiserver. */
  url: string;
  /** Bearer token of the cluster administrator (user "admin", group system:masters). */
  token: string;
  /** PEM file of the CA that signed the API server's serving certificate (and may sign client certificates). */
  caFile: string;
  /** The administrator's kubeconfig. */
  kubeconfig: string;
  /** User "lectern": authenticated, no permissions beyond the defaults until a test grants some. */
  lectern: KubeUser;
  /** The temp directory holding the PKI, token file, kubeconfigs and etcd data; removed by stop(). */
  dir: string;
  /** Files a node agent (issue #4) needs: the CA key signs kubelet/client certificates; tokens.csv lists users. */
  files: { caKey: string; serviceAccountKey: string; serviceAccountPub: string; tokens: string };
  /** Milliseconds from the start of startControlPlane() to each step (pki, etcd, apiserver, ready). */
  timings: Record<'pki' | 'etcd' | 'apiserver' | 'ready', number>;
  /** Recent output of one component (for failure messages). */
  logs(component: Component): string;
  /** Stops the API server (SIGTERM) and starts it again with the same flags; resolves once /readyz is ok. */
  restartApiServer(): Promise<void>;
  /** Stops the scheduler, controller-manager, API server and etcd, then removes `dir`. Idempotent. */
  stop(): Promise<void>;
}

export type Component = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler';

/** The Service ClusterIP range the API server allocates from (metadata only: nothing routes to it here). */
export const SERVICE_CIDR = '10.0.0.0/24';
export const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';

/**
 * Where scripts/deps/kube-testbed.sh put kube-apiserver, kube-controller-manager, kube-scheduler and etcd.
 * LECTERN_KUBE_BIN overrides it.
 */
export function kubeBinDir(): string {
  return process.env.LECTERN_KUBE_BIN ?? path.join(os.homedir(), '.cache', 'lectern-tests', 'kube', 'bin');
}

/**
 * Builds the control plane's binaries if they are missing or stale (`bash scripts/deps/kube-testbed.sh`: a no-op
 * taking well under a second when they are cached; the first build takes tens of minutes on 2 cores).
 */
export async function ensureKubeBinaries(): Promise<string> {
  const bin = kubeBinDir();
  // Its progress (and go build's errors) go to this process's stderr: a first build is long and silent otherwise.
  const child = spawn('bash', [path.join(ROOT, 'scripts', 'deps', 'kube-testbed.sh')], {
    env: { ...process.env, LECTERN_KUBE_BIN: bin },
    stdio: ['ignore', 2, 2],
  });
  const code = await new Promise<number | string>((resolve) => {
    child.once('error', (err) => resolve(err.message));
    child.once('exit', (c, signal) => resolve(c ?? signal ?? 'unknown'));
  });
  if (code !== 0) throw new Error(`bash scripts/deps/kube-testbed.sh failed (${code}); its output is above`);
  return bin;
}

/**
 * A throwaway Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager and
 * kube-scheduler from ~/.cache/lectern-tests/kube/bin, in a fresh temp directory, on free ports. No Node exists: pods are
 * created (by the job controller, say) and stay Pending/Unschedulable until a node agent registers one.
 *
 * Authentication is a static token file (users "admin" in system:masters, "lectern", and the
 * controller-manager's and scheduler's own users), authorization Node,RBAC, admission the defaults plus
 * NodeRestriction. Resolves once /readyz is ok, the controller-manager and scheduler are healthy, and the
 * service-account controller has created the "default" ServiceAccount (so pods are admitted).
 */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const bin = await ensureKubeBinaries();
  const timeoutMs = options.timeoutMs ?? 120_000;
  let lastError: Error | undefined;
  // A free port can be taken between probing and binding: retry the whole start a few times.
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await startOnce(bin, timeoutMs, options.advertiseAddress);
    } catch (err) {
      lastError = err as Error;
      if (!/address already in use/i.test(lastError.message)) throw lastError;
    }
  }
  throw lastError!;
}

export interface ControlPlaneOptions {
  timeoutMs?: number;
  /**
   * A non-loopback address of this network namespace (the test bed's node address): the API server then
   * listens on every address, with this one in its certificate, so pods (and the kubelet) reach it there.
   */
  advertiseAddress?: string;
}

interface Proc {
  name: Component;
  child: ChildProcess;
  log: () => string;
  exited: Promise<void>;
}

async function startOnce(bin: string, timeoutMs: number, advertiseAddress: string | undefined): Promise<ControlPlane> {
  const dir = await mkdtemp(path.join(os.tmpdir().length > 60 ? '/tmp' : os.tmpdir(), 'lectern-kube-'));
  const procs: Proc[] = [];
  let watchdog: ChildProcess | undefined;
  const onExit = () => {
    for (const p of procs) {
      try {
        if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  };
  process.on('exit', onExit);
  const deadline = Date.now() + timeoutMs;
  const t0 = Date.now();
  const timings = { pki: 0, etcd: 0, apiserver: 0, ready: 0 };

  const cleanup = async () => {
    process.off('exit', onExit);
    watchdog?.stdin?.end('stop\n');
    // The clients first (they would log connection errors), etcd last.
    await Promise.all(procs.filter((p) => p.name !== 'etcd').map((p) => terminate(p)));
    await Promise.all(procs.filter((p) => p.name === 'etcd').map((p) => terminate(p)));
    await rm(dir, { recursive: true, force: true });
  };

  try {
    const pki = await makePki(dir, advertiseAddress);
    timings.pki = Date.now() - t0;
    const [etcdPort, etcdPeerPort, apiPort, kcmPort, schedPort] = await freePorts(5);
    const url = `https://127.0.0.1:${apiPort}`;

    // ---- static tokens and kubeconfigs
    const tok = () => randomBytes(24).toString('hex');
    const users = {
      admin: { token: tok(), groups: ['system:masters'] },
      lectern: { token: tok(), groups: [] as string[] },
      'system:kube-controller-manager': { token: tok(), groups: [] as string[] },
      'system:kube-scheduler': { token: tok(), groups: [] as string[] },
    };
    const tokens = path.join(dir, 'tokens.csv');
    await writeFile(
      tokens,
      Object.entries(users)
        .map(([name, u], i) => `${u.token},${name},uid-${i + 1}${u.groups.length ? `,"${u.groups.join(',')}"` : ''}`)
        .join('\n') + '\n',
      { mode: 0o600 },
    );
    const kubeconfigFor = async (file: string, name: string, token: string) => {
      const p = path.join(dir, file);
      await writeFile(p, kubeconfigYaml(url, pki.caCrt, name, token), { mode: 0o600 });
      return p;
    };
    const adminKubeconfig = await kubeconfigFor('admin.kubeconfig', 'admin', users.admin.token);
    const lecternKubeconfig = await kubeconfigFor('lectern.kubeconfig', 'lectern', users.lectern.token);
    const kcmKubeconfig = await kubeconfigFor('controller-manager.kubeconfig', 'system:kube-controller-manager', users['system:kube-controller-manager'].token);
    const schedKubeconfig = await kubeconfigFor('scheduler.kubeconfig', 'system:kube-scheduler', users['system:kube-scheduler'].token);

    // ---- etcd
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const peerUrl = `http://127.0.0.1:${etcdPeerPort}`;
    procs.push(
      launch(bin, 'etcd', dir, [
        '--name=lectern-test',
        `--data-dir=${path.join(dir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=lectern-test=${peerUrl}`,
        '--initial-cluster-state=new',
        // A test database: durability across a host crash is worthless, fsync latency is not.
        '--unsafe-no-fsync',
        '--quota-backend-bytes=1073741824',
        '--log-level=warn',
      ]),
    );
    watchdog = startWatchdog(dir);
    const watch = (p: Proc) => watchdog?.stdin?.write(`${p.child.pid}\n`);
    watch(procs[0]!);
    await waitFor(procs, 'etcd /health', deadline, async () => {
      const res = await fetch(`${etcdUrl}/health`);
      const body = (await res.json()) as { health?: string };
      return res.ok && body.health === 'true';
    });
    timings.etcd = Date.now() - t0;

    // ---- kube-apiserver
    const apiserverArgs = [
      `--etcd-servers=${etcdUrl}`,
      `--bind-address=${advertiseAddress ? '0.0.0.0' : '127.0.0.1'}`,
      `--advertise-address=${advertiseAddress ?? '127.0.0.1'}`,
      `--secure-port=${apiPort}`,
      `--cert-dir=${path.join(dir, 'apiserver')}`,
      `--tls-cert-file=${pki.apiserverCrt}`,
      `--tls-private-key-file=${pki.apiserverKey}`,
      `--client-ca-file=${pki.caCrt}`,
      `--token-auth-file=${tokens}`,
      `--requestheader-client-ca-file=${pki.frontProxyCaCrt}`,
      '--requestheader-allowed-names=front-proxy-client',
      '--requestheader-username-headers=X-Remote-User',
      '--requestheader-group-headers=X-Remote-Group',
      '--requestheader-extra-headers-prefix=X-Remote-Extra-',
      `--proxy-client-cert-file=${pki.frontProxyClientCrt}`,
      `--proxy-client-key-file=${pki.frontProxyClientKey}`,
      // pods/log, exec, port-forward: the API server calls the node's kubelet API at its InternalIP and
      // checks the kubelet's serving certificate against our CA (issueCertificate() makes one for a node agent).
      `--kubelet-client-certificate=${pki.kubeletClientCrt}`,
      `--kubelet-client-key=${pki.kubeletClientKey}`,
      `--kubelet-certificate-authority=${pki.caCrt}`,
      '--kubelet-preferred-address-types=InternalIP,Hostname',
      '--anonymous-auth=false',
      '--authorization-mode=Node,RBAC',
      // The defaults (NamespaceLifecycle, LimitRanger, ServiceAccount, PodSecurity, ResourceQuota, Priority,
      // DefaultTolerationSeconds, … webhooks) plus the one a node agent's credentials should be held to.
      '--enable-admission-plugins=NodeRestriction',
      `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
      `--service-account-key-file=${pki.saPub}`,
      `--service-account-signing-key-file=${pki.saKey}`,
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      // The "kubernetes" Service's endpoints would be 127.0.0.1, which Endpoints validation refuses; nothing
      // in this cluster reaches the API through that Service anyway.
      '--endpoint-reconciler-type=none',
      '--allow-privileged=false',
      '--profiling=false',
    ];
    const apiserver = launch(bin, 'kube-apiserver', dir, apiserverArgs);
    procs.push(apiserver);
    watch(apiserver);
    const api = new Agent({ connect: { ca: await readFile(pki.caCrt, 'utf8') } });
    const adminGet = (p: string) => fetch(`${url}${p}`, { dispatcher: api, headers: { authorization: `Bearer ${users.admin.token}` } });
    await waitFor(procs, 'kube-apiserver /readyz', deadline, async () => (await adminGet('/readyz')).ok);
    timings.apiserver = Date.now() - t0;

    // ---- kube-controller-manager and kube-scheduler
    const kcm = launch(bin, 'kube-controller-manager', dir, [
      `--kubeconfig=${kcmKubeconfig}`,
      `--authentication-kubeconfig=${kcmKubeconfig}`,
      `--authorization-kubeconfig=${kcmKubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${kcmPort}`,
      `--cert-dir=${path.join(dir, 'controller-manager')}`,
      '--leader-elect=false',
      // Each controller acts as its own ServiceAccount in kube-system (RBAC bootstrap roles), as in production.
      '--use-service-account-credentials=true',
      `--service-account-private-key-file=${pki.saKey}`,
      `--root-ca-file=${pki.caCrt}`,
      `--cluster-signing-cert-file=${pki.caCrt}`,
      `--cluster-signing-key-file=${pki.caKey}`,
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      '--profiling=false',
    ]);
    const sched = launch(bin, 'kube-scheduler', dir, [
      `--kubeconfig=${schedKubeconfig}`,
      `--authentication-kubeconfig=${schedKubeconfig}`,
      `--authorization-kubeconfig=${schedKubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${schedPort}`,
      `--cert-dir=${path.join(dir, 'scheduler')}`,
      '--leader-elect=false',
      '--profiling=false',
    ]);
    procs.push(kcm, sched);
    watch(kcm);
    watch(sched);
    // Their own serving certificates are self-signed (in --cert-dir); /healthz needs no credentials.
    const insecure = new Agent({ connect: { rejectUnauthorized: false } });
    await Promise.all([
      waitFor(procs, 'kube-controller-manager /healthz', deadline, async () => (await fetch(`https://127.0.0.1:${kcmPort}/healthz`, { dispatcher: insecure })).ok),
      waitFor(procs, 'kube-scheduler /readyz', deadline, async () => (await fetch(`https://127.0.0.1:${schedPort}/readyz`, { dispatcher: insecure })).ok),
      // The service-account controller works once "default" exists in "default" (the admission plugin needs it).
      waitFor(procs, 'ServiceAccount default/default', deadline, async () => (await adminGet('/api/v1/namespaces/default/serviceaccounts/default')).ok),
    ]);
    await insecure.close();
    await api.close();
    timings.ready = Date.now() - t0;

    let stopped: Promise<void> | undefined;
    const byName = new Map(procs.map((p) => [p.name, p]));
    return {
      url,
      token: users.admin.token,
      caFile: pki.caCrt,
      kubeconfig: adminKubeconfig,
      lectern: { name: 'lectern', token: users.lectern.token, kubeconfig: lecternKubeconfig },
      dir,
      files: { caKey: pki.caKey, serviceAccountKey: pki.saKey, serviceAccountPub: pki.saPub, tokens },
      timings,
      logs: (c) => byName.get(c)?.log() ?? '',
      async restartApiServer() {
        // SIGTERM, as a rolling restart of the API server does; etcd keeps every object and resource version.
        const old = byName.get('kube-apiserver')!;
        await terminate(old);
        const next = launch(bin, 'kube-apiserver', dir, apiserverArgs);
        procs.splice(procs.indexOf(old), 1, next);
        byName.set('kube-apiserver', next);
        watch(next);
        const agent = new Agent({ connect: { ca: await readFile(pki.caCrt, 'utf8') } });
        try {
          const get = (p: string) => fetch(`${url}${p}`, { dispatcher: agent, headers: { authorization: `Bearer ${users.admin.token}` } });
          await waitFor(procs, 'the restarted kube-apiserver /readyz', Date.now() + 120_000, async () => (await get('/readyz')).ok);
        } finally {
          await agent.close();
        }
      },
      stop() {
        stopped ??= cleanup();
        return stopped;
      },
    };
  } catch (err) {
    const tails = procs.map((p) => `--- ${p.name} (last lines) ---\n${tail(p.log(), 30)}`).join('\n');
    await cleanup();
    throw new Error(`${(err as Error).message}\n${tails}`);
  }
}

// ------------------------------------------------------------------------------------------- PKI

interface Pki {
  caCrt: string;
  caKey: string;
  apiserverCrt: string;
  apiserverKey: string;
  kubeletClientCrt: string;
  kubeletClientKey: string;
  frontProxyCaCrt: string;
  frontProxyClientCrt: string;
  frontProxyClientKey: string;
  saKey: string;
  saPub: string;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function openssl(cwd: string, ...args: string[]): Promise<void> {
  try {
    await execFileAsync('openssl', args, { cwd });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`openssl ${args[0]} failed: ${e.message}\n${e.stderr ?? ''}`);
  }
}

async function makeCa(pki: string, name: string, cn: string): Promise<void> {
  await openssl(
    pki,
    'req',
    '-x509',
    ...EC,
    '-keyout',
    path.join(pki, `${name}.key`),
    '-out',
    path.join(pki, `${name}.crt`),
    '-days',
    '3650',
    '-subj',
    `/CN=${cn}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
  );
}

/** An EC P-256 key and a certificate for it signed by `<caName>.crt/.key` in `pki`; files `<name>.crt/.key`. */
async function makeLeaf(pki: string, name: string, caName: string, subject: string, ext: string[]): Promise<{ certFile: string; keyFile: string }> {
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`invalid certificate file name: ${JSON.stringify(name)}`);
  const f = (n: string) => path.join(pki, n);
  await writeFile(f(`${name}.ext`), ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', ...ext].join('\n') + '\n');
  await openssl(pki, 'req', '-new', ...EC, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', subject);
  await openssl(
    pki,
    'x509',
    '-req',
    '-in',
    f(`${name}.csr`),
    '-CA',
    f(`${caName}.crt`),
    '-CAkey',
    f(`${caName}.key`),
    '-CAcreateserial',
    '-days',
    '3650',
    '-extfile',
    f(`${name}.ext`),
    '-out',
    f(`${name}.crt`),
  );
  return { certFile: f(`${name}.crt`), keyFile: f(`${name}.key`) };
}

/** Escapes one RDN value for openssl's -subj (/CN=…/O=…). */
function rdn(v: string): string {
  return v.replace(/[\\/,+="<>;#]/g, (c) => `\\${c}`);
}

/**
 * Issues a certificate signed by the test bed's CA (the one `--client-ca-file` trusts and the API server
 * verifies kubelets against). A client certificate authenticates as user `commonName` in groups
 * `organizations` — e.g. `system:node:<name>` in `system:nodes`, which the Node authorizer and NodeRestriction
 * admission hold to that node's own objects. A server certificate (with `ips`/`dns` SANs) is what a node
 * agent serves its kubelet API (pods/log, exec) with.
 */
export async function issueCertificate(
  cp: Pick<ControlPlane, 'dir'>,
  options: { name: string; commonName: string; organizations?: string[]; usage: 'client' | 'server' | 'both'; ips?: string[]; dns?: string[] },
): Promise<{ certFile: string; keyFile: string }> {
  const subject = `/CN=${rdn(options.commonName)}${(options.organizations ?? []).map((o) => `/O=${rdn(o)}`).join('')}`;
  const eku = { client: 'clientAuth', server: 'serverAuth', both: 'serverAuth,clientAuth' }[options.usage];
  const sans = [...(options.ips ?? []).map((ip) => `IP:${ip}`), ...(options.dns ?? []).map((d) => `DNS:${d}`)];
  return makeLeaf(path.join(cp.dir, 'pki'), options.name, 'ca', subject, [`extendedKeyUsage=${eku}`, ...(sans.length ? [`subjectAltName=${sans.join(',')}`] : [])]);
}

/**
 * A CA; the API server's serving certificate (loopback + in-cluster names) and its client certificate for
 * kubelets; the front proxy's CA and client certificate; and the service-account key pair.
 */
async function makePki(dir: string, advertiseAddress: string | undefined): Promise<Pki> {
  const pki = path.join(dir, 'pki');
  await mkdir(pki, { mode: 0o700 });
  const f = (n: string) => path.join(pki, n);
  await makeCa(pki, 'ca', 'lectern-test-ca');
  const serviceIp = firstServiceIp(SERVICE_CIDR);
  await makeLeaf(pki, 'apiserver', 'ca', '/CN=kube-apiserver', [
    'extendedKeyUsage=serverAuth',
    `subjectAltName=IP:127.0.0.1,${advertiseAddress ? `IP:${advertiseAddress},` : ''}IP:${serviceIp},DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local`,
  ]);
  // How the API server authenticates to a kubelet (a node agent) for pods/log, exec and port-forward.
  await makeLeaf(pki, 'apiserver-kubelet-client', 'ca', '/CN=kube-apiserver-kubelet-client/O=system:masters', ['extendedKeyUsage=clientAuth']);
  // The aggregation layer's front proxy (requestheader authentication), with its own CA as kubeadm does: lets
  // an aggregated API such as metrics.k8s.io be added later, and the controller-manager's and scheduler's
  // delegated authentication find a complete extension-apiserver-authentication ConfigMap.
  await makeCa(pki, 'front-proxy-ca', 'lectern-test-front-proxy-ca');
  await makeLeaf(pki, 'front-proxy-client', 'front-proxy-ca', '/CN=front-proxy-client', ['extendedKeyUsage=clientAuth']);
  // RS256 service-account tokens: what every client library expects.
  await openssl(pki, 'genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', f('sa.key'));
  await openssl(pki, 'pkey', '-in', f('sa.key'), '-pubout', '-out', f('sa.pub'));
  return {
    caCrt: f('ca.crt'),
    caKey: f('ca.key'),
    apiserverCrt: f('apiserver.crt'),
    apiserverKey: f('apiserver.key'),
    kubeletClientCrt: f('apiserver-kubelet-client.crt'),
    kubeletClientKey: f('apiserver-kubelet-client.key'),
    frontProxyCaCrt: f('front-proxy-ca.crt'),
    frontProxyClientCrt: f('front-proxy-client.crt'),
    frontProxyClientKey: f('front-proxy-client.key'),
    saKey: f('sa.key'),
    saPub: f('sa.pub'),
  };
}

function firstServiceIp(cidr: string): string {
  const [a, b, c, d] = cidr.split('/')[0]!.split('.').map(Number);
  return `${a}.${b}.${c}.${d! + 1}`;
}

/** A kubeconfig that authenticates with a client certificate (a kubelet's, say). */
export function kubeconfigWithCertificate(server: string, caFile: string, user: string, cert: { certFile: string; keyFile: string }): string {
  return kubeconfigYaml(server, caFile, user, { 'client-certificate': cert.certFile, 'client-key': cert.keyFile });
}

function kubeconfigYaml(server: string, caFile: string, user: string, credentials: string | Record<string, string>): string {
  const userLines = typeof credentials === 'string' ? [`    token: ${credentials}`] : Object.entries(credentials).map(([k, v]) => `    ${k}: ${JSON.stringify(v)}`);
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: lectern-test',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority: ${JSON.stringify(caFile)}`,
    'users:',
    `- name: ${JSON.stringify(user)}`,
    '  user:',
    ...userLines,
    'contexts:',
    '- name: lectern-test',
    '  context:',
    '    cluster: lectern-test',
    `    user: ${JSON.stringify(user)}`,
    'current-context: lectern-test',
    '',
  ].join('\n');
}

// ------------------------------------------------------------------------------------------- processes

function launch(bin: string, name: Component, dir: string, args: string[]): Proc {
  const exe = path.join(bin, name);
  if (!existsSync(exe)) throw new Error(`${exe} is missing: run \`bash scripts/deps/kube-testbed.sh\``);
  // cwd in the temp dir: nothing a component writes by default lands in the work tree.
  const child = spawn(exe, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GOMAXPROCS: process.env.GOMAXPROCS ?? '2' } });
  let output = '';
  const collect = (d: Buffer) => {
    output += d.toString();
    if (output.length > 400_000) output = output.slice(-200_000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  child.on('error', (err) => collect(Buffer.from(`spawn error: ${err.message}\n`)));
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  // Don't let the components (or their pipes) keep the test process alive.
  child.unref();
  (child.stdout as unknown as { unref?: () => void } | null)?.unref?.();
  (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();
  return { name, child, log: () => output, exited };
}

/** Polls check() until it returns true; fails early, with the reason, if a component has exited. */
async function waitFor(procs: Proc[], what: string, deadline: number, check: () => Promise<boolean>): Promise<void> {
  let lastError = '';
  for (;;) {
    const dead = procs.find((p) => p.child.exitCode !== null || p.child.signalCode !== null);
    if (dead) {
      const why = /address already in use/i.test(dead.log()) ? ' (address already in use)' : '';
      throw new Error(`${dead.name} exited (${dead.child.exitCode ?? dead.child.signalCode}) while waiting for ${what}${why}`);
    }
    try {
      if (await check()) return;
      lastError = 'not ready';
    } catch (err) {
      lastError = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (${lastError})`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** SIGTERM, then SIGKILL after 10 s. */
async function terminate(p: Proc): Promise<void> {
  const { child } = p;
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.ref();
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }, 10_000);
  await p.exited;
  clearTimeout(timer);
  child.unref();
}

/**
 * A detached shell told each component's pid on its stdin. "stop" means stop() is handling it; plain EOF
 * means this process died (even by SIGKILL): kill the components and remove the directory.
 */
export function startWatchdog(dir: string): ChildProcess {
  const script = [
    'pids=',
    'while read -r line; do',
    '  [ "$line" = stop ] && exit 0',
    '  pids="$pids $line"',
    'done',
    'for p in $pids; do kill -TERM "$p" 2>/dev/null; done',
    'i=0; while [ $i -lt 100 ]; do alive=; for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done; [ -z "$alive" ] && break; sleep 0.1; i=$((i+1)); done',
    'for p in $pids; do kill -KILL "$p" 2>/dev/null; done',
    'rm -rf "$1"',
  ].join('\n');
  const watchdog = spawn('/bin/sh', ['-c', script, 'lectern-kube-watchdog', dir], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
  watchdog.on('error', () => undefined);
  watchdog.stdin?.on('error', () => undefined);
  watchdog.unref();
  (watchdog.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  return watchdog;
}

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const s = createServer();
          s.unref();
          s.on('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}

function tail(text: string, lines: number): string {
  return text
    .split('\n')
    .slice(-lines - 1)
    .join('\n');
}

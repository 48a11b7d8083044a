// The single table of every Lectern setting. Parsing, validation, `lectern config` output and
// docs/configuration.md are all derived from it: add a setting here and nowhere else.
// Longer than 400 lines on purpose: it is one declaration, a setting per entry with the description
// users read, in the order docs/configuration.md lists them. Split by section it would need every
// reader to assemble the pieces again, and `SettingKey` would no longer come from one literal.

export type SettingType = 'string' | 'int' | 'float' | 'bool' | 'duration' | 'bytes' | 'enum' | 'list';

export interface SettingDef {
  readonly type: SettingType;
  /** Written as it would be in the file; parsed like any other source. */
  readonly default: string | readonly string[];
  readonly description: string;
  readonly choices?: readonly string[];
  readonly min?: number;
  /** Shown as "(set)" instead of its value by `lectern config`. */
  readonly secret?: boolean;
}

export const SETTINGS = {
  'HTTP.Listen': {
    type: 'string',
    default: ':3939',
    description: 'Address and port to listen on: ":3939", "127.0.0.1:3939" or "[::1]:3939".',
  },
  'HTTP.TrustedProxies': {
    type: 'list',
    default: [],
    description:
      'Addresses or CIDR ranges of the reverse proxies in front of Lectern (repeat the key, e.g. "10.0.0.5", "10.0.0.0/8"). ' +
      'Only a request from one of them may say, in X-Forwarded-For, -Proto and -Host, who the client is and whether it used TLS ' +
      '(audit log addresses, sign-in throttling, Secure cookies, content_url). Empty = no proxy: those headers are ignored.',
  },
  'Server.DataDir': {
    type: 'string',
    default: '',
    description:
      'Where bundles, extracted content, restored environments (venvs, R libraries), job logs and (SQLite mode) the database live. ' +
      'Empty = /var/lib/lectern when running as root, else ~/.local/share/lectern.',
  },
  'Server.Address': {
    type: 'string',
    default: '',
    description: 'Public URL of this server (e.g. "https://lectern.example.org/"), used to build content_url and ' + "dashboard_url. Empty = derived from each request's Host header.",
  },
  'Server.APIVersion': {
    type: 'string',
    default: '2026.01.0',
    description:
      'Posit Connect API level reported as server_settings.version: the newest Connect release whose API Lectern implements. ' +
      'Clients choose their publish flows (draft deploys, multipart uploads) and the features they enable from it, so it must be ' +
      'a three-part version (docs/api.md, "The Connect version").',
  },
  'Server.SecretKey': {
    type: 'string',
    default: '',
    secret: true,
    description:
      'Base64 key (32 bytes) that encrypts content environment variables and OAuth integration secrets at rest. Empty = a key generated ' +
      'once into <DataDir>/secret.key (shared storage keeps it identical across replicas).',
  },
  'Server.ReplicaName': {
    type: 'string',
    default: '',
    description:
      'Name of this replica in task leases, job rows and logs; keep it the same across restarts so a restarted server ' +
      'closes or adopts the jobs it left (in the Helm chart: the StatefulSet pod name). Empty = the host name. ' +
      'Two servers on one host need different names.',
  },
  'Database.Provider': {
    type: 'enum',
    default: 'sqlite',
    choices: ['sqlite', 'postgres'],
    description: 'sqlite (embedded, one server) or postgres (required for several replicas).',
  },
  'Postgres.URL': {
    type: 'string',
    default: '',
    secret: true,
    description: 'PostgreSQL connection URL, e.g. postgres://lectern:secret@db.example.org/lectern.',
  },
  'Authentication.SessionLifetime': {
    type: 'duration',
    default: '336h',
    description: 'How long a browser sign-in lasts.',
  },
  'Authentication.SignInAttempts': {
    type: 'int',
    default: '5',
    min: 1,
    description:
      'Failed sign-ins allowed for one username from one client address before each further attempt must wait ' +
      '(answered 429 with Retry-After, the right password too). One address gets four times as many across all usernames.',
  },
  'Authentication.SignInDelay': {
    type: 'duration',
    default: '2s',
    description: 'The first wait after too many failed sign-ins; it doubles with each further failure, up to SignInMaxDelay.',
  },
  'Authentication.SignInMaxDelay': {
    type: 'duration',
    default: '15m',
    description: 'The longest wait between failed sign-ins; failures older than this are forgotten.',
  },
  'Bootstrap.Enabled': {
    type: 'bool',
    default: 'false',
    description:
      'Serve POST /__api__/v1/experimental/bootstrap (and v1/bootstrap): on a server with no users, a JWT signed with the bootstrap ' +
      'secret key (as `rsconnect bootstrap --jwt-keypath` makes) creates the first administrator and returns its API key. ' +
      'Refused once any user exists. Off: the endpoint answers 404.',
  },
  'Bootstrap.SecretKey': {
    type: 'string',
    default: '',
    secret: true,
    description: 'The bootstrap secret key, base64 of at least 32 bytes (`head -c 32 /dev/random | base64`); HS256 JWTs are verified with it.',
  },
  'Bootstrap.SecretKeyFile': {
    type: 'string',
    default: '',
    description: 'A file holding the bootstrap secret key (base64, as for SecretKey); used when SecretKey is empty.',
  },
  'Bundles.MaxUploadSize': {
    type: 'bytes',
    default: '2GiB',
    description: 'Largest bundle archive accepted (compressed size).',
  },
  'Bundles.MaxExtractedSize': {
    type: 'bytes',
    default: '8GiB',
    description: "Largest total size of a bundle's files once extracted; guards against gzip bombs.",
  },
  'Bundles.MaxExpansionRatio': {
    type: 'int',
    default: '100',
    min: 0,
    description:
      'Most times a bundle may grow when decompressed (its tar stream against the uploaded archive); ' +
      'every bundle may decompress to 256 MiB whatever its ratio. Guards against gzip bombs below ' +
      'MaxExtractedSize. Source, wheels and typical data compress 2-10 times; 0 = no bound.',
  },
  'Bundles.MaxFiles': {
    type: 'int',
    default: '100000',
    min: 1,
    description: 'Most files one bundle may contain.',
  },
  'Tasks.LeaseTimeout': {
    type: 'duration',
    default: '30s',
    description:
      'A running task whose replica has not renewed its lease for this long is taken over by another; a replica whose ' +
      'heartbeat is this old is gone, and another replica closes the job rows it left running.',
  },
  'Tasks.PollInterval': {
    type: 'duration',
    default: '2s',
    description: 'How often an idle replica checks for queued tasks and expired leases (new tasks wake it at once).',
  },
  'Tasks.MaxAttempts': {
    type: 'int',
    default: '3',
    min: 1,
    description: 'Times a task is started before a replica failure fails it for good.',
  },
  'Tasks.Concurrency': {
    type: 'int',
    default: '2',
    min: 1,
    description: 'Tasks one replica runs at the same time.',
  },
  'Git.Enabled': {
    type: 'bool',
    default: 'true',
    description:
      'Git-backed content: content deployed from a git repository, branch and directory, and redeployed when the branch moves ' +
      '(v1/content/{guid}/repository). Needs the git command ([Git] Executable); off, the repository routes answer 404.',
  },
  'Git.Executable': {
    type: 'string',
    default: '',
    description: 'The git command used for git-backed content. Empty = "git" on PATH.',
  },
  'Git.PollingFrequency': {
    type: 'duration',
    default: '15m',
    description: 'How often the branch of git-backed content with polling on is checked; a new commit is deployed. One replica checks each item.',
  },
  'Git.FetchTimeout': {
    type: 'duration',
    default: '5m',
    description: "Longest one git command (listing a repository's branches, fetching a commit, archiving a directory) may run before it is stopped.",
  },
  'Git.MaxFetchSize': {
    type: 'bytes',
    default: '2GiB',
    description: 'Largest repository data one fetch may write (only the deployed commit is fetched, without history); a larger fetch is stopped.',
  },
  'GitCredential.Host': {
    type: 'list',
    default: [],
    description:
      'Hosts of private repositories ("github.com"), each with the Username, Password and Protocol at the same position (repeat the [GitCredential] ' +
      'section for several hosts). git is given them for that host only, as HTTP basic authentication (e.g. a personal access token as Password).',
  },
  'GitCredential.Username': { type: 'list', default: [], description: 'The user name for the [GitCredential] Host at the same position.' },
  'GitCredential.Password': { type: 'list', default: [], secret: true, description: 'The password or token for the [GitCredential] Host at the same position.' },
  'GitCredential.Protocol': { type: 'list', default: [], description: 'https (the default when missing) or http, for the [GitCredential] Host at the same position.' },
  'Python.Executable': {
    type: 'list',
    default: [],
    description:
      'A Python interpreter content may use (repeat the key for several). Each is probed for its version at start-up ' +
      'and again when a bundle asks for a version none offers (after it changed, or a minute on); one that exists ' +
      'but does not work stops start-up, one not installed yet is reported and found once installed. ' +
      'Empty = python3 from PATH, if there is one.',
  },
  'Python.Discover': {
    type: 'bool',
    default: 'true',
    description:
      'Also use the Pythons installed in the usual places, besides Executable: pyenv versions ($PYENV_ROOT, else ~/.pyenv), ' +
      '/opt/python/*/bin/python3, /usr/bin/python3.X and /usr/local/bin/python3.X (Python 2 and ones that fail to start are skipped). ' +
      'Lectern extension (Connect uses only Executable); false = only Executable.',
  },
  'Python.VersionMatching': {
    type: 'enum',
    default: 'major-minor',
    choices: ['major-minor', 'exact', 'nearest'],
    description: "How a bundle's Python version picks an interpreter: major-minor (same X.Y, closest patch), exact, or nearest (any version, closest).",
  },
  'Python.PackageManager': {
    type: 'enum',
    default: 'uv',
    choices: ['uv', 'pip'],
    description: 'Installs Python packages with uv (much faster; falls back to pip when no uv is found) or pip.',
  },
  'Python.UvExecutable': {
    type: 'string',
    default: '',
    description: 'The uv binary. Empty = "uv" from PATH, else the one shipped by the PyPI uv package next to Lectern\'s own tools.',
  },
  'Python.PackageCacheDir': {
    type: 'string',
    default: '',
    description:
      'Root of the download caches of Python restores (uv and pip), one directory per content owner ' +
      "(owner-<id>: build-time code of one owner's bundle never writes where another's restores read). " +
      'Empty = <DataDir>/envs/cache. Share it only between servers on one database. Keep it on the same ' +
      'file system as the data directory so uv can hard-link.',
  },
  'Python.PackageIndex': {
    type: 'string',
    default: '',
    description: "Package index URL for restores (pip --index-url / uv --index-url). Empty = the tool's default (pip.conf is respected).",
  },
  'Python.ExtraIndex': {
    type: 'list',
    default: [],
    description: 'Extra package index URLs for restores (repeat the key for several).',
  },
  'R.Executable': {
    type: 'list',
    default: [],
    description: 'An R installation (path to its R binary; repeat for several). Probed like [Python] Executable. Empty = R from PATH, if there is one.',
  },
  'R.Discover': {
    type: 'bool',
    default: 'true',
    description: 'Also use the R installations in the usual places, besides Executable: /opt/R/*/bin/R, /usr/lib/R, /usr/lib64/R, /usr/local/lib/R. Lectern extension; false = only Executable.',
  },
  'R.VersionMatching': {
    type: 'enum',
    default: 'nearest',
    choices: ['major-minor', 'exact', 'nearest'],
    description: "How a bundle's R version picks an installation: nearest (default), major-minor or exact.",
  },
  'R.Repository': {
    type: 'list',
    default: [],
    description: 'CRAN-like repository URL used when a package names none (repeat for several; file:// URLs work). Repositories named in the bundle come first.',
  },
  'Quarto.Executable': {
    type: 'list',
    default: [],
    description: 'A Quarto binary (repeat for several). Probed like [Python] Executable. Empty = quarto from PATH, if there is one.',
  },
  'Quarto.Discover': {
    type: 'bool',
    default: 'true',
    description: "Also use the Quartos in the usual places, besides Executable: /opt/quarto/*/bin/quarto, /opt/quarto/bin/quarto, RStudio Server's. Lectern extension; false = only Executable.",
  },
  'Applications.RunAs': {
    type: 'string',
    default: 'lectern',
    description: 'Unprivileged user that content processes run as when Lectern runs as root; created (as a system user) at start-up when missing.',
  },
  'Applications.Sandbox': {
    type: 'bool',
    default: 'true',
    description:
      'Run content in a bubblewrap sandbox (its bundle read-only, its restored environment, its job directory and a private /tmp). ' +
      'Start-up stops when the sandbox does not work, unless this is false.',
  },
  'Applications.NetworkIsolation': {
    type: 'bool',
    default: 'true',
    description:
      'With the sandbox on: give every content process its own network namespace (pasta, Debian package passt; needs root). ' +
      "Content reaches other hosts but not the host's loopback services, Lectern's port or other workers; Lectern reaches it through a port forwarded on 127.0.0.1. " +
      'Start-up stops when this does not work, unless this is false; a server that is not root runs content on the host network and says so at start.',
  },
  'Applications.ProcessLimit': {
    type: 'int',
    default: '512',
    min: 1,
    description: 'Most processes and threads one content process tree may have (cgroup pids controller or RLIMIT_NPROC).',
  },
  'Scheduler.MinProcesses': { type: 'int', default: '0', min: 0, description: 'Worker processes kept running per content item, even when idle.' },
  'Scheduler.MaxProcesses': { type: 'int', default: '3', min: 1, description: 'Most worker processes per content item on this replica.' },
  'Scheduler.MinProcessesLimit': { type: 'int', default: '20', min: 0, description: 'Highest min_processes a publisher may set.' },
  'Scheduler.MaxProcessesLimit': { type: 'int', default: '20', min: 1, description: 'Highest max_processes a publisher may set.' },
  'Scheduler.MaxConnsPerProcess': {
    type: 'int',
    default: '20',
    min: 1,
    description: 'Concurrent connections one worker takes; beyond that requests wait for a worker with room.',
  },
  'Scheduler.LoadFactor': {
    type: 'float',
    default: '0.5',
    min: 0,
    description: 'Eagerness to start another worker: a new one starts when the busiest has load_factor × max_conns_per_process connections.',
  },
  'Scheduler.IdleTimeout': { type: 'duration', default: '5m', description: 'A worker with no connections for this long is stopped (above min_processes).' },
  'Scheduler.InitTimeout': { type: 'duration', default: '60s', description: 'How long a new worker may take to accept connections before it is failed.' },
  'Scheduler.ConnectionTimeout': { type: 'duration', default: '1h', description: 'A proxied connection with no data either way for this long is closed (0 = never).' },
  'Scheduler.ReadTimeout': { type: 'duration', default: '1h', description: 'A proxied connection with no data from the client for this long is closed (0 = never).' },
  'Scheduler.MemoryLimit': {
    type: 'bytes',
    default: '0',
    description: 'Memory one content process tree may use before it is killed (0 = no limit). Content may set a lower or, up to MaxMemoryLimit, higher one.',
  },
  'Scheduler.MaxMemoryLimit': { type: 'bytes', default: '0', description: 'Highest memory_limit a publisher may set (0 = no cap).' },
  'Scheduler.MemoryRequest': {
    type: 'bytes',
    default: '0',
    description: 'Off-host: memory requested for each content pod when the content sets no memory_request (0 = none).',
  },
  'Scheduler.MaxMemoryRequest': { type: 'bytes', default: '0', description: 'Highest memory_request a publisher may set (0 = no cap).' },
  'Scheduler.CPURequest': {
    type: 'float',
    default: '0',
    min: 0,
    description: 'Off-host: CPU cores requested for each content pod when the content sets no cpu_request (0 = none).',
  },
  'Scheduler.MaxCPURequest': { type: 'float', default: '0', min: 0, description: 'Highest cpu_request (cores) a publisher may set (0 = no cap).' },
  'Scheduler.CPULimit': {
    type: 'float',
    default: '0',
    min: 0,
    description: 'Off-host: CPU cores each content pod may use when the content sets no cpu_limit (0 = no limit).',
  },
  'Scheduler.MaxCPULimit': { type: 'float', default: '0', min: 0, description: 'Highest cpu_limit (cores) a publisher may set (0 = no cap).' },
  'Scheduler.NvidiaGPULimit': {
    type: 'int',
    default: '0',
    min: 0,
    description: 'Off-host: nvidia.com/gpu devices given to each content pod when the content sets no nvidia_gpu_limit.',
  },
  'Scheduler.MaxNvidiaGPULimit': { type: 'int', default: '0', min: 0, description: 'Highest nvidia_gpu_limit a publisher may set (0 = GPUs cannot be requested).' },
  'Scheduler.AMDGPULimit': {
    type: 'int',
    default: '0',
    min: 0,
    description: 'Off-host: amd.com/gpu devices given to each content pod when the content sets no amd_gpu_limit.',
  },
  'Scheduler.MaxAMDGPULimit': { type: 'int', default: '0', min: 0, description: 'Highest amd_gpu_limit a publisher may set (0 = GPUs cannot be requested).' },
  'Launcher.Enabled': {
    type: 'bool',
    default: 'false',
    description: 'Run content off-host through a launcher backend instead of as local processes (needs Kubernetes = true). A server runs content one way or the other, never both.',
  },
  'Launcher.Kubernetes': {
    type: 'bool',
    default: 'false',
    description: 'The off-host backend is Kubernetes: every build, render and worker process is its own batch/v1 Job. See docs/kubernetes.md.',
  },
  'Launcher.KubernetesAPIURL': {
    type: 'string',
    default: '',
    description:
      'Base URL of the Kubernetes API (up to, not including, /api). Empty = the KUBERNETES_API_URL environment variable, else in-cluster https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT.',
  },
  'Launcher.KubernetesAuthToken': {
    type: 'string',
    default: '',
    secret: true,
    description:
      'Bearer token Lectern uses with the Kubernetes API. Empty = the KUBERNETES_AUTH_TOKEN environment variable, else the mounted service-account token (/var/run/secrets/kubernetes.io/serviceaccount/token, re-read as it rotates).',
  },
  'Launcher.KubernetesCACertificate': {
    type: 'string',
    default: '',
    description: "PEM file of the CA that signed the API server's certificate. Empty = the mounted service-account ca.crt when present, else the system trust store.",
  },
  'Launcher.KubernetesSkipTLSVerify': {
    type: 'bool',
    default: 'false',
    description: "Do not verify the API server's certificate (testing only: anyone on the path can read the token).",
  },
  'Launcher.KubernetesNamespace': {
    type: 'string',
    default: 'lectern',
    description: 'Namespace of every Job, Pod and Secret Lectern creates. Lectern needs the Role in docs/kubernetes.md there, and checks it at start-up.',
  },
  'Launcher.InstanceName': {
    type: 'string',
    default: 'lectern',
    description: "Value of the app.kubernetes.io/instance label on Lectern's objects. Give each Lectern server sharing a namespace its own name: a server adopts and cleans up only its own.",
  },
  'Launcher.DataDir': {
    type: 'string',
    default: '',
    description: 'The shared data directory as NFS "host:/path" for content pods; the same storage as [Server] DataDir. Set this or DataDirPVCName.',
  },
  'Launcher.DataDirPVCName': {
    type: 'string',
    default: '',
    description: "A ReadWriteMany PersistentVolumeClaim holding [Server] DataDir, mounted into content pods (only each job's own sub-paths). Set this or DataDir.",
  },
  'Launcher.DataDirPVCSubPath': {
    type: 'string',
    default: '',
    description: 'Where [Server] DataDir lives inside the volume (a relative path, no ".."). Empty = at its root.',
  },
  'Launcher.InitContainerImage': {
    type: 'string',
    default: 'ghcr.io/lectern-project/lectern-runtime-init',
    description: "Image whose /lectern/runtime the init container copies into each pod (see docs/kubernetes.md). Without a tag, the tag is Lectern's own version, so runners always match the server.",
  },
  'Launcher.InitContainerPullPolicy': {
    type: 'enum',
    default: 'IfNotPresent',
    choices: ['IfNotPresent', 'Always', 'Never'],
    description: "imagePullPolicy of the init container (content images use the base Job's, else Kubernetes' default).",
  },
  'Launcher.RuntimeDelivery': {
    type: 'enum',
    default: 'init-container',
    choices: ['init-container', 'image-volume'],
    description:
      "How Lectern's runtime reaches each content pod: init-container (an init container copies it from [Launcher] InitContainerImage into an emptyDir; works on every cluster) or image-volume (that image mounted read-only as an image volume: no init container, so a pod starts about a second sooner; needs Kubernetes 1.35 or later with a runtime that supports image volumes, such as containerd 2.1 or CRI-O 1.31). Lectern adds this key; Connect has no equivalent.",
  },
  'Launcher.DefaultServiceAccount': {
    type: 'string',
    default: '',
    description: 'Service account of content pods when the content names none. Empty = the namespace\'s "default". Checked to exist before each Job.',
  },
  'Launcher.ImagePullSecrets': {
    type: 'list',
    default: [],
    description: 'Secrets (in the namespace) used to pull content and init images (repeat the key for several).',
  },
  'Launcher.JobBase': {
    type: 'string',
    default: '',
    description:
      "A YAML file holding a batch/v1 Job that every content Job starts from (tolerations, node selectors, annotations, extra volumes, sidecars…). Lectern's required fields are merged over it.",
  },
  'Launcher.JobTTL': {
    type: 'duration',
    default: '10m',
    description: 'How long a finished Job (and its pod) stays in the cluster before Kubernetes removes it (ttlSecondsAfterFinished). Logs stay in Lectern either way.',
  },
  'Launcher.BatchDeadline': {
    type: 'duration',
    default: '2h',
    description: 'Longest a build (restoring the environment) or render Job may run (activeDeadlineSeconds); worker Jobs have no deadline.',
  },
  'Launcher.SchedulingTimeout': {
    type: 'duration',
    default: '0s',
    description: 'How long a pod may stay Unschedulable before its job fails with Kubernetes\' message. 0 = fail at once; give a cluster autoscaler time to add a node (e.g. "5m").',
  },
  'Launcher.ClusterDefinition': {
    type: 'list',
    default: [],
    description:
      "A YAML file of execution environments in Connect's ClusterDefinition schema (name: Kubernetes, images: [...]); repeat for several. " +
      'Read at start-up only while no execution environment exists yet: it bootstraps the table, which the Environments API owns from then on.',
  },
  'ExecutionEnvironments.ConfigFilePath': {
    type: 'string',
    default: '',
    description:
      'A YAML list of execution environments kept in sync live: entries are created, updated and removed to match the file whenever it ' +
      'changes, and the API refuses to edit them. A broken file is reported in the log and leaves the last good state.',
  },
  'ExecutionEnvironments.CheckInterval': {
    type: 'duration',
    default: '10s',
    description:
      'How often the execution environments file is re-read in case a change was missed (network file systems, ConfigMap volumes); changes seen by ' +
      'the file system apply at once. 0 = only file-system events.',
  },
  'Metrics.Instrumentation': {
    type: 'bool',
    default: 'true',
    description:
      'Record usage as Connect does: every request the content proxy serves (GET v1/instrumentation/content/hits), the visits among them ' +
      '(v1/instrumentation/content/visits) and Shiny websocket sessions (v1/instrumentation/shiny/usage). false = record nothing; what was recorded stays readable.',
  },
  'Metrics.InstrumentationRetention': {
    type: 'duration',
    default: '8760h',
    description:
      'A Lectern setting (Connect has none): usage records older than this are deleted in the background, hourly. The default keeps a year; ' +
      '0 = keep them all (Connect keeps them all, and a busy API adds a row per request).',
  },
  'Logging.Level': {
    type: 'enum',
    default: 'info',
    choices: ['debug', 'info', 'warn', 'error', 'silent'],
    description: 'Server log level (logs go to standard error as JSON lines).',
  },
} as const satisfies Record<string, SettingDef>;

export type SettingKey = keyof typeof SETTINGS;

type ValueFor<T extends SettingType> = T extends 'int' | 'float' | 'duration' | 'bytes' ? number : T extends 'bool' ? boolean : T extends 'list' ? string[] : string;

export type SettingValue<K extends SettingKey> = ValueFor<(typeof SETTINGS)[K]['type']>;

export function splitKey(key: SettingKey): { section: string; name: string } {
  const dot = key.indexOf('.');
  return { section: key.slice(0, dot), name: key.slice(dot + 1) };
}

export function envVarName(key: SettingKey): string {
  const { section, name } = splitKey(key);
  return `LECTERN_${section.toUpperCase()}_${name.toUpperCase()}`;
}

// Where the Kubernetes API is and how Lectern proves who it is: the [Launcher] settings first, then
// the well-known variables (KUBERNETES_API_URL, KUBERNETES_AUTH_TOKEN), then what a pod sees
// in-cluster (KUBERNETES_SERVICE_HOST/PORT and the mounted service-account token and CA).
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Config } from '../../config/config.js';

export interface KubeConnection {
  url: string;
  /** The bearer token; re-read from a mounted token file as the kubelet rotates it. */
  token(): Promise<string>;
  ca?: string;
  skipTlsVerify: boolean;
  /** How each value was found, for the start-up message. */
  describe: string;
}

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const TOKEN_REREAD_MS = 60_000;

export class KubeConnectionError extends Error {}

export function resolveConnection(config: Config, env: NodeJS.ProcessEnv = process.env, serviceAccountDir = SERVICE_ACCOUNT_DIR): KubeConnection {
  let url = config.get('Launcher.KubernetesAPIURL');
  let urlFrom = '[Launcher] KubernetesAPIURL';
  if (!url && env.KUBERNETES_API_URL) {
    url = env.KUBERNETES_API_URL;
    urlFrom = 'KUBERNETES_API_URL';
  }
  if (!url && env.KUBERNETES_SERVICE_HOST) {
    const host = env.KUBERNETES_SERVICE_HOST.includes(':') ? `[${env.KUBERNETES_SERVICE_HOST}]` : env.KUBERNETES_SERVICE_HOST;
    url = `https://${host}:${env.KUBERNETES_SERVICE_PORT ?? '443'}`;
    urlFrom = 'KUBERNETES_SERVICE_HOST/PORT (in-cluster)';
  }
  if (!url) {
    throw new KubeConnectionError('Kubernetes execution is on but no API server is known: set [Launcher] KubernetesAPIURL or KUBERNETES_API_URL, or run Lectern in the cluster.');
  }
  if (!/^https?:\/\//.test(url)) throw new KubeConnectionError(`[Launcher] KubernetesAPIURL must be an http(s) URL, not ${JSON.stringify(url)}.`);
  url = url.replace(/\/+$/, '');

  const configured = config.get('Launcher.KubernetesAuthToken') || env.KUBERNETES_AUTH_TOKEN || '';
  const tokenFile = `${serviceAccountDir}/token`;
  let token: () => Promise<string>;
  let tokenFrom: string;
  if (configured) {
    token = async () => configured.trim();
    tokenFrom = config.get('Launcher.KubernetesAuthToken') ? '[Launcher] KubernetesAuthToken' : 'KUBERNETES_AUTH_TOKEN';
  } else if (existsSync(tokenFile)) {
    let cached = { value: '', at: 0 };
    token = async () => {
      if (Date.now() - cached.at > TOKEN_REREAD_MS) cached = { value: (await readFile(tokenFile, 'utf8')).trim(), at: Date.now() };
      return cached.value;
    };
    tokenFrom = tokenFile;
  } else {
    throw new KubeConnectionError(
      `Kubernetes execution is on but Lectern has no credentials: set [Launcher] KubernetesAuthToken or KUBERNETES_AUTH_TOKEN, or mount a service-account token at ${tokenFile}.`,
    );
  }

  const caFile = config.get('Launcher.KubernetesCACertificate') || (existsSync(`${serviceAccountDir}/ca.crt`) ? `${serviceAccountDir}/ca.crt` : '');
  let ca: string | undefined;
  if (caFile) {
    try {
      ca = readFileSync(caFile, 'utf8');
    } catch (err) {
      throw new KubeConnectionError(`[Launcher] KubernetesCACertificate: cannot read ${caFile}: ${(err as Error).message}`);
    }
  }
  const skipTlsVerify = config.get('Launcher.KubernetesSkipTLSVerify');
  return {
    url,
    token,
    ca,
    skipTlsVerify,
    describe: `${url} (from ${urlFrom}), token from ${tokenFrom}, ${skipTlsVerify ? 'certificate NOT verified' : caFile ? `CA ${caFile}` : 'system CAs'}`,
  };
}

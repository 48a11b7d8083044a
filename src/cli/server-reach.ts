// Whether content in its own network namespace can reach this server at its public URL
// (CONNECT_SERVER). The namespace has no host loopback, and pasta gives it a copy of the host's
// addresses, so a URL naming the host itself leads back into the namespace.
import { lookup } from 'node:dns/promises';
import { networkInterfaces } from 'node:os';

/** A sentence for the start-up output when content cannot reach `serverUrl`; null when it can (as far as this host can tell). */
export async function unreachableFromContent(serverUrl: string): Promise<string | null> {
  let host: string;
  try {
    host = new URL(serverUrl).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return null;
  }
  const addresses = await lookup(host, { all: true }).then(
    (found) => found.map((a) => a.address),
    () => [] as string[],
  );
  const local = new Set(Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address)));
  const leadsHome = addresses.filter((a) => local.has(a) || a.startsWith('127.') || a === '::1');
  if (!leadsHome.length) return null;
  return (
    `Content cannot reach this server at ${serverUrl} (CONNECT_SERVER): it runs in its own network namespace, where ${leadsHome.join(', ')} is not this host. ` +
    'Set [Server] Address to a URL that reaches this server from other machines through a proxy or load balancer on another host, or set [Applications] NetworkIsolation = false.'
  );
}

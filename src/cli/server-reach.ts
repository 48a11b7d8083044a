// Whether content in its own network namespace can reach this server at its public address
// ([Server] Address). The namespace has no host loopback, and pasta gives it a copy of the host's
// addresses, so a URL naming the host itself leads back into the namespace. Content's Connect API
// calls do not depend on it: its CONNECT_SERVER is the API channel (src/http/api-channel.ts).
import { lookup } from 'node:dns/promises';
import { networkInterfaces } from 'node:os';

/** A sentence for the start-up output when content cannot reach the public address `serverUrl`; null when it can (as far as this host can tell). */
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
    `Content cannot reach this server's public address ${serverUrl} ([Server] Address): it runs in its own network namespace, where ${leadsHome.join(', ')} is not this host. ` +
    'Its Connect API calls still work (CONNECT_SERVER is the API channel forwarded into its namespace), but links to other content at the public address do not; ' +
    'to reach them, set [Server] Address to a URL served by a proxy or load balancer on another host, or set [Applications] NetworkIsolation = false.'
  );
}

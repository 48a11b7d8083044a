import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';
import type { Config } from '../config/config.js';
import { ConfigError } from '../config/config.js';

/**
 * The one rule for whom Lectern believes about a request's origin: `X-Forwarded-For`, `-Proto`
 * and `-Host` count only when the peer that sent them is a proxy listed in [HTTP] TrustedProxies
 * (addresses or CIDR ranges; none by default). Fastify's `request.ip`/`protocol`/`host` use it
 * through `trustProxy`, the content proxy through `origin()`; both read the headers the same way.
 */
export class TrustedProxies {
  private readonly list = new BlockList();
  readonly empty: boolean;

  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const [address, bits, extra] = entry.trim().split('/');
      const family = isIP(address ?? '');
      const max = family === 6 ? 128 : 32;
      const prefix = bits === undefined ? max : Number(bits);
      if (!family || extra !== undefined || !/^\d+$/.test(bits ?? String(max)) || prefix > max) {
        throw new ConfigError(`[HTTP] TrustedProxies: "${entry}" is not an IP address or CIDR range (e.g. 10.0.0.5, 10.0.0.0/8, fd00::/8)`);
      }
      this.list.addSubnet(address!, prefix, family === 6 ? 'ipv6' : 'ipv4');
    }
    this.empty = entries.length === 0;
  }

  /** Whether `address` (a peer's socket address) is a configured proxy. For Fastify's `trustProxy`. */
  trusts = (address: string | undefined): boolean => {
    if (this.empty || !address) return false;
    const family = isIP(address);
    return family !== 0 && this.list.check(address, family === 6 ? 'ipv6' : 'ipv4');
  };

  /**
   * What the client used, as Fastify computes it: the client address is the nearest hop (walking
   * X-Forwarded-For from the right) that is not a trusted proxy; scheme and host are the last
   * X-Forwarded-Proto/-Host entries when the peer is trusted, else the connection's own.
   */
  origin(req: IncomingMessage): { ip: string; proto: string; host: string } {
    const peer = req.socket?.remoteAddress ?? '';
    const encrypted = (req.socket as { encrypted?: boolean } | undefined)?.encrypted === true;
    if (!this.trusts(peer)) return { ip: peer, proto: encrypted ? 'https' : 'http', host: req.headers.host ?? '' };
    const hops = listHeader(req.headers['x-forwarded-for']);
    let ip = peer;
    while (hops.length && this.trusts(ip)) ip = hops.pop()!;
    return {
      ip,
      proto: lastEntry(req.headers['x-forwarded-proto']) ?? (encrypted ? 'https' : 'http'),
      host: lastEntry(req.headers['x-forwarded-host']) ?? req.headers.host ?? '',
    };
  }
}

const byConfig = new WeakMap<Config, TrustedProxies>();

/** The TrustedProxies of a server's configuration, parsed once. */
export function trustedProxies(config: Config): TrustedProxies {
  let trusted = byConfig.get(config);
  if (!trusted) byConfig.set(config, (trusted = new TrustedProxies(config.get('HTTP.TrustedProxies'))));
  return trusted;
}

function listHeader(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value.join(',') : value)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function lastEntry(value: string | string[] | undefined): string | undefined {
  return listHeader(value).pop();
}

// Pod IPs: each node agent claims a loopback /16 (127.N.0.0/16) for its pods, so agents of several test
// processes on one machine never hand out the same address. Containers share the host's network
// namespace: a server binds its pod IP (env fieldRef status.podIP), which makes the same port usable by
// every pod, and the claim file makes sure no other agent's pods use those addresses.
import { mkdirSync, openSync, readFileSync, rmSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const CLAIMS = path.join(tmpdir(), 'lectern-kube-node-ranges');
/** 127.0.x.x stays the host's; 127.1–127.99 are left to whatever else the machine uses loopback for. */
const FIRST = 100;
const LAST = 254;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class PodAddresses {
  private next = 1;
  private readonly inUse = new Set<number>();

  private constructor(
    readonly prefix: string,
    private readonly claimFile: string,
  ) {}

  /** Claims a free 127.N.0.0/16; a claim whose process is gone is taken over. */
  static claim(): PodAddresses {
    mkdirSync(CLAIMS, { recursive: true, mode: 0o755 });
    const start = FIRST + Math.floor(Math.random() * (LAST - FIRST + 1));
    for (let i = 0; i <= LAST - FIRST; i++) {
      const n = FIRST + ((start - FIRST + i) % (LAST - FIRST + 1));
      const file = path.join(CLAIMS, String(n));
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          const fd = openSync(file, 'wx', 0o644);
          writeSync(fd, String(process.pid));
          closeSync(fd);
          return new PodAddresses(`127.${n}`, file);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
          const owner = Number(readFileSync(file, 'utf8').trim());
          // A claim being written has no pid yet: leave it to its owner.
          if (!owner || alive(owner)) break;
          rmSync(file, { force: true });
        }
      }
    }
    throw new Error(`no free pod address range: every 127.${FIRST}–${LAST}.0.0/16 is claimed in ${CLAIMS}`);
  }

  get cidr(): string {
    return `${this.prefix}.0.0/16`;
  }

  allocate(): string {
    for (let i = 0; i < 65_534; i++) {
      const n = this.next;
      this.next = (this.next % 65_534) + 1;
      if (this.inUse.has(n) || n % 256 === 0 || n % 256 === 255) continue;
      this.inUse.add(n);
      return `${this.prefix}.${n >> 8}.${n & 255}`;
    }
    throw new Error(`pod address range ${this.cidr} is exhausted`);
  }

  release(ip: string): void {
    const [, , hi, lo] = ip.split('.').map(Number);
    this.inUse.delete((hi! << 8) | lo!);
  }

  /** Gives the range back. */
  close(): void {
    try {
      if (readFileSync(this.claimFile, 'utf8').trim() === String(process.pid)) rmSync(this.claimFile, { force: true });
    } catch {
      // already gone
    }
  }
}

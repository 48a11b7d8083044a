import { connect } from 'node:net';
import type { JobAddress } from '../launcher.js';

/** A TCP connect to the address succeeds: a worker's readiness where nothing stands between Lectern and it. */
export function acceptsConnections(address: JobAddress): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: address.host, port: address.port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

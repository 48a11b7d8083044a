// The test bed's network, made by scripts/kube-testbed.sh before anything starts: one network
// namespace per run, named and numbered per run, holding the node's bridge and address and the pods'
// bridge and subnet; nothing of it is on the host's own interfaces. pasta (Debian's passt) gives the
// namespace its way out (package indexes for restores), as it does for Lectern's sandboxed jobs.
import { readFile } from 'node:fs/promises';

export interface NodeNetwork {
  /** Short random id of this run, in every name below. */
  id: string;
  /** The network namespace (`ip netns` name). */
  netns: string;
  /** The node's InternalIP, on the bridge `nodeBridge`; the API server listens here too. */
  nodeIp: string;
  nodeBridge: string;
  /** The pods' subnet and the bridge the CNI bridge plugin attaches them to (its gateway is the node's). */
  podCidr: string;
  podBridge: string;
}

export async function readNetwork(file: string): Promise<NodeNetwork> {
  return JSON.parse(await readFile(file, 'utf8')) as NodeNetwork;
}

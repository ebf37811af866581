import { createHash, randomBytes } from 'node:crypto';

/** A 25-character lowercase id, as Docker's object ids look in `ls` output. */
export function newId(): string {
  return randomBytes(16).toString('hex').slice(0, 25);
}

/** The 12-character prefix used in namespace and interface names. */
export function shortId(id: string): string {
  return id.slice(0, 12);
}

/** A CNI attachment's id: the same (container, interface, network) always names the same endpoint. */
export function endpointIdOf(containerId: string, ifname: string, networkId: string): string {
  return createHash('sha256').update(`${containerId}\0${ifname}\0${networkId}`).digest('hex').slice(0, 25);
}

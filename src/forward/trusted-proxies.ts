import { BlockList, isIP } from 'node:net';

/** Peers whose forwarded headers are believed. Addresses are normalised before matching. */
export class TrustedProxies {
  readonly #list = new BlockList();

  constructor(ranges: readonly string[]) {
    for (const range of ranges) {
      const [address, bits] = range.split('/') as [string, string | undefined];
      const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
      this.#list.addSubnet(
        address,
        bits === undefined ? (family === 'ipv6' ? 128 : 32) : Number(bits),
        family,
      );
    }
  }

  trusts(peer: string | undefined): boolean {
    if (!peer) return false;
    const address = normalisePeer(peer);
    return this.#list.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
  }
}

/** `::ffff:127.0.0.1` is the IPv4 loopback seen through a dual-stack socket. */
export function normalisePeer(peer: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(peer);
  return mapped ? mapped[1]! : peer.toLowerCase();
}

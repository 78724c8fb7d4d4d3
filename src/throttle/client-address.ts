import { isIPv4, isIPv6 } from 'node:net'

/**
 * The part of a client's address that brute-force limits count by. An IPv4 address is one
 * client; one IPv6 client usually holds a whole /64 (and can pick a new address from it for
 * every request), so IPv6 addresses count by their /64. IPv4-mapped IPv6 is read as IPv4.
 */
export function addressKey (ip: string): string {
  const address = ip.split('%')[0] ?? ''
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address)
  if (mapped) return mapped[1]!
  if (isIPv4(address) || !isIPv6(address)) return address
  return `${ipv6Groups(address).slice(0, 4).join(':')}::/64`
}

/**
 * The network a client address belongs to, for the per-account limit: an IPv4 address's /24, an
 * IPv6 address's /64 (as addressKey). A home, office or mobile carrier usually hands out
 * addresses within one such network, so an attacker who moves between its addresses still
 * counts as one, while the account's owner elsewhere is another.
 */
export function networkKey (ip: string): string {
  const address = addressKey(ip)
  if (!isIPv4(address)) return address
  return `${address.split('.').slice(0, 3).join('.')}.0/24`
}

/** The eight 16-bit groups of a valid IPv6 address, without leading zeros. */
function ipv6Groups (address: string): string[] {
  // An embedded dotted IPv4 tail (e.g. 64:ff9b::192.0.2.1) is the last two groups.
  const parts = (side: string) => (side === '' ? [] : side.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])))
  const [head = '', tail] = address.split('::')
  const left = parts(head)
  const right = tail === undefined ? [] : parts(tail)
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
  return groups.map((g) => parseInt(g, 16).toString(16))
}

import { isIP } from 'node:net'
import ipaddr from 'ipaddr.js'
import { normalAddress } from '../shared/ip-address.js'

/**
 * The part of a client's address that brute-force limits count by. An IPv4 address is one
 * client; one IPv6 client usually holds a whole /64 (and can pick a new address from it for
 * every request), so IPv6 addresses count by their /64. IPv4-mapped IPv6 is read as IPv4.
 * (request.ip is already in its one spelling; a text that is no address counts as itself.)
 */
export function addressKey (ip: string): string {
  const address = normalAddress(ip)
  if (address === null) return ip
  if (isIP(address) === 4) return address
  // The key Gatehouse has always written: the first four groups without leading zeros.
  return `${ipaddr.IPv6.parse(address).parts.slice(0, 4).map((group) => group.toString(16)).join(':')}::/64`
}

/**
 * The network a client address belongs to, for the per-account limit: an IPv4 address's /24, an
 * IPv6 address's /64 (as addressKey). A home, office or mobile carrier usually hands out
 * addresses within one such network, so an attacker who moves between its addresses still
 * counts as one, while the account's owner elsewhere is another.
 */
export function networkKey (ip: string): string {
  const address = normalAddress(ip)
  if (address === null) return ip
  if (isIP(address) === 6) return addressKey(address)
  return `${address.split('.').slice(0, 3).join('.')}.0/24`
}

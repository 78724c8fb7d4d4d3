import { isIP } from 'node:net'
import ipaddr from 'ipaddr.js'

// A client's address has one spelling, wherever it is read (throttle keys, the session's `ip`, the
// access log): two spellings of one address must never be two throttle buckets.

/**
 * The one spelling of an IP address: IPv4 in dotted decimal (an IPv4-mapped IPv6 address,
 * ::ffff:1.2.3.4, as the IPv4 address it maps), IPv6 in its RFC 5952 form (lower case, zeros
 * compressed) without a zone (`%eth0` names an interface of the host that saw it, not the client).
 * Null for anything else: a host name, `unknown`, a port, IPv4 in octal, hex or fewer parts.
 *
 * Node's isIP decides what is an address (strict, as a socket writes one, and quick: ipaddr.js
 * throws, slowly, on what it refuses, and would read 010.0.0.1 as octal); ipaddr.js then gives an
 * IPv6 address its one form. An IPv4 address that isIP accepts is already in its one form.
 */
export function normalAddress (text: string): string | null {
  const family = isIP(text)
  if (family === 4) return text
  if (family !== 6) return null
  // What a dual-stack socket reports for every IPv4 peer, without the cost of a full parse.
  const mapped = MAPPED.exec(text)?.[1]
  if (mapped !== undefined && isIP(mapped) === 4) return mapped
  const address = ipaddr.IPv6.parse(text.split('%')[0]!)
  if (address.isIPv4MappedAddress()) return address.toIPv4Address().toString()
  return address.toRFC5952String()
}

const MAPPED = /^::ffff:([0-9.]+)$/i
const IPV4_PORT = /^([0-9.]+):([0-9]{1,5})$/
const BRACKETED_IPV6 = /^\[([^\]]+)\](?::([0-9]{1,5}))?$/

/**
 * One entry of X-Forwarded-For as a proxy writes it: an address, `ip:port` (IPv4), `[v6]:port` or
 * `[v6]`, the port dropped (it tells connections apart, not clients). Null for anything else.
 */
function forwardedAddress (entry: string): string | null {
  const withPort = IPV4_PORT.exec(entry) ?? BRACKETED_IPV6.exec(entry)
  if (withPort === null) return normalAddress(entry)
  const [, address = '', port] = withPort
  if (port !== undefined && Number(port) > 65535) return null
  // Only IPv6 is bracketed, and only IPv4 takes a bare `:port`.
  return isIP(address) === (entry.startsWith('[') ? 6 : 4) ? normalAddress(address) : null
}

/** Whether the peer at `address`, `hop` proxies away from this server, is a proxy to believe. */
export type ProxyTrust = (address: string, hop: number) => boolean

/**
 * TRUST_PROXY as a function: everyone (true), the nearest `hops` proxies (a number), or the proxies
 * at these addresses/CIDRs. Fastify is given the same function, so that X-Forwarded-Host and
 * -Proto are believed from exactly the peers whose X-Forwarded-For is.
 */
export function proxyTrust (setting: true | number | string[]): ProxyTrust {
  if (setting === true) return () => true
  if (typeof setting === 'number') return (_address, hop) => hop < setting
  const ranges = setting.map(rangeOf)
  return (address) => {
    const normal = normalAddress(address)
    if (normal === null) return false
    const ip = ipaddr.parse(normal)
    return ranges.some(([network, bits]) => network.kind() === ip.kind() && ip.match(network, bits))
  }
}

/** An address or CIDR of TRUST_PROXY (checked by the configuration), IPv4-mapped ranges as IPv4. */
function rangeOf (entry: string): [ipaddr.IPv4 | ipaddr.IPv6, number] {
  const [text = '', given] = entry.split('/')
  const address = ipaddr.parse(text)
  const full = address.kind() === 'ipv4' ? 32 : 128
  const bits = given === undefined ? full : Number(given)
  if (address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) {
    return [(address as ipaddr.IPv6).toIPv4Address(), bits - 96]
  }
  return [address, bits]
}

/**
 * The client's address: the peer's (the socket's), or, through the proxies `trust` believes, the
 * X-Forwarded-For entry the farthest of them wrote (walking the list from its right end, as
 * proxy-addr does). An entry on that walk that is not an address (a host name, garbage, an empty
 * entry) makes the whole header worthless: the answer is then the peer's address.
 */
export function clientAddress (peer: string | undefined, forwardedFor: string | string[] | undefined, trust: ProxyTrust | false): string {
  const own = (peer === undefined ? null : normalAddress(peer)) ?? peer ?? ''
  if (trust === false || forwardedFor === undefined) return own
  const header = Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor
  if (header.trim() === '') return own
  const entries = header.split(',')
  let address = own
  for (let hop = 0; hop < entries.length && trust(address, hop); hop++) {
    const next = forwardedAddress(entries[entries.length - 1 - hop]!.trim())
    if (next === null) return own
    address = next
  }
  return address
}

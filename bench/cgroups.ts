import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/**
 * Linux memory cgroups for `npm run bench:container`: a container's memory limit without a
 * container runtime. cgroup v1 (a `memory` hierarchy, as on this machine) and v2 (the unified
 * hierarchy) are both handled; which one is mounted is detected.
 */

const ROOT = '/sys/fs/cgroup'
const MiB = 2 ** 20

export interface MemoryCgroup {
  /** The file a pid is written to, to move that process into the cgroup. */
  procs: string
  /** The limit in MiB, or null for none. */
  limitMib: number | null
  /** Memory charged to the cgroup now (anonymous memory and page cache), in MB. */
  usageMb(): number
  /** The most that was charged at once, in MB (v1 memory.max_usage_in_bytes, v2 memory.peak). */
  peakMb(): number
  /** Processes the kernel killed for want of memory in the cgroup. */
  oomKills(): number
  /** Removes the cgroup (its processes must have exited). */
  remove(): void
}

export type CgroupVersion = 'v1' | 'v2'

/**
 * Which cgroup hierarchy offers a memory controller here, or why none can be used (a sentence).
 * Creating a cgroup needs root.
 */
export function cgroupSupport (): { version: CgroupVersion } | { refused: string } {
  if (process.platform !== 'linux') return { refused: 'memory cgroups are Linux only' }
  if (process.getuid?.() !== 0) return { refused: 'it needs root, to create memory cgroups (run it as root, e.g. in a VM or CI job)' }
  if (existsSync(join(ROOT, 'memory/memory.limit_in_bytes'))) return { version: 'v1' }
  const controllers = join(ROOT, 'cgroup.controllers')
  if (existsSync(controllers) && readFileSync(controllers, 'utf8').split(/\s+/).includes('memory')) return { version: 'v2' }
  return { refused: `no cgroup memory controller is mounted at ${ROOT} (neither v1's memory/ nor v2's cgroup.controllers lists memory)` }
}

const mb = (bytes: number) => Math.round((bytes / MiB) * 10) / 10
const readNumber = (file: string) => Number(readFileSync(file, 'utf8').trim())
/** A `key value` line of a flat-keyed cgroup file (memory.events, memory.oom_control); 0 when absent. */
const keyed = (file: string, key: string) => {
  if (!existsSync(file)) return 0
  const line = readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith(`${key} `))
  return line ? Number(line.split(' ')[1]) : 0
}
/** Writes a control file that not every kernel has (swap accounting): absent or refused is fine. */
const writeIfPresent = (file: string, value: string) => {
  try {
    if (existsSync(file)) writeFileSync(file, value)
  } catch {
    // e.g. swap accounting turned off: without swap there is nothing to limit.
  }
}

/**
 * A new memory cgroup named `name`, limited to `limitMib` (null: no limit, only accounted), and
 * no swap beyond it. On v1 it is made inside this process' own memory cgroup (so whatever
 * accounts for this process accounts for it too); on v2 under the root, where the memory
 * controller is enabled for children if it is not yet.
 */
export function createMemoryCgroup (version: CgroupVersion, name: string, limitMib: number | null): MemoryCgroup {
  if (version === 'v1') {
    const own = readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((line) => line.split(':')[1]?.split(',').includes('memory'))?.split(':')[2] ?? '/'
    const dir = join(ROOT, 'memory', own, name)
    mkdirSync(dir)
    if (limitMib !== null) {
      writeFileSync(join(dir, 'memory.limit_in_bytes'), String(limitMib * MiB))
      writeIfPresent(join(dir, 'memory.memsw.limit_in_bytes'), String(limitMib * MiB))
    }
    return {
      procs: join(dir, 'cgroup.procs'),
      limitMib,
      usageMb: () => mb(readNumber(join(dir, 'memory.usage_in_bytes'))),
      peakMb: () => mb(readNumber(join(dir, 'memory.max_usage_in_bytes'))),
      oomKills: () => keyed(join(dir, 'memory.oom_control'), 'oom_kill'),
      remove: () => rmdirSync(dir),
    }
  }
  const subtree = join(ROOT, 'cgroup.subtree_control')
  if (!readFileSync(subtree, 'utf8').split(/\s+/).includes('memory')) writeFileSync(subtree, '+memory')
  const dir = join(ROOT, name)
  mkdirSync(dir)
  if (limitMib !== null) {
    writeFileSync(join(dir, 'memory.max'), String(limitMib * MiB))
    writeIfPresent(join(dir, 'memory.swap.max'), '0')
  }
  // memory.peak came with Linux 5.19: before it, the highest usage seen when sampled.
  let sampledPeak = 0
  const usage = () => {
    const bytes = readNumber(join(dir, 'memory.current'))
    sampledPeak = Math.max(sampledPeak, bytes)
    return bytes
  }
  return {
    procs: join(dir, 'cgroup.procs'),
    limitMib,
    usageMb: () => mb(usage()),
    peakMb: () => mb(existsSync(join(dir, 'memory.peak')) ? readNumber(join(dir, 'memory.peak')) : Math.max(sampledPeak, usage())),
    oomKills: () => keyed(join(dir, 'memory.events'), 'oom_kill'),
    remove: () => rmdirSync(dir),
  }
}

#!/usr/bin/env node
// `npm run test:cluster`: the session test suite against a real Redis Cluster. Starts three
// primaries on free loopback ports (redis-server --cluster-enabled yes), joins them with
// `redis-cli --cluster create`, waits (bounded) until every node says cluster_state:ok, runs tap
// with TEST_REDIS_CLUSTER_NODES pointing at them, and always stops and removes them afterwards.
// Nothing here touches the shared Redis on 6379.
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** The suites that run against the cluster: everything that reads or writes sessions. */
const DIRS = ['test/sessions', 'test/scale']
/**
 * Left out: a private single Redis of their own (events, Sentinel's servers, and the 100,000
 * sessions whose SLOWLOG must be theirs alone), or timing measured against bcrypt, not Redis.
 * test/sessions/revoke-all.test.ts sweeps a thousand sessions on the cluster in their stead.
 */
const EXCLUDE = new Set(['test/sessions/events.test.ts', 'test/sessions/login-timing.test.ts', 'test/scale/sentinel-failover.test.ts'])
const isExcluded = (file) => EXCLUDE.has(file) || /^test\/scale\/many-sessions-/.test(file)
/**
 * And these, for the keys and pipelines they add: the console's per-minute counts ({activity}) and
 * its event stream; the list of users' session counts (many users' keys read at once).
 */
const ALSO = ['test/console/admin-api.test.ts', 'test/console/user-search.test.ts']
const FILES = [...DIRS.flatMap((dir) => readdirSync(dir).filter((name) => name.endsWith('.test.ts')).map((name) => `${dir}/${name}`)).filter((file) => !isExcluded(file)), ...ALSO]
const START_TIMEOUT_MS = 30_000
const RUN_TIMEOUT_MS = 10 * 60_000

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** A free port whose cluster bus port (port + 10000) is free too. */
async function clusterPort () {
  const free = (port) => new Promise((resolve) => {
    const server = createServer().once('error', () => resolve(false)).listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 30000)
    if ((await free(port)) && (await free(port + 10000))) return port
  }
}

const cli = (port, ...args) => spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', timeout: 5000 })

async function until (what, check) {
  const deadline = Date.now() + START_TIMEOUT_MS
  while (Date.now() < deadline) {
    if (check()) return
    await sleep(200)
  }
  throw new Error(`${what} within ${START_TIMEOUT_MS / 1000} s`)
}

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cluster-'))
const servers = []
const stop = () => {
  for (const server of servers) server.kill('SIGKILL')
  rmSync(dir, { recursive: true, force: true })
}
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => { stop(); process.exit(130) })

let status = 1
try {
  const ports = [await clusterPort(), await clusterPort(), await clusterPort()]
  for (const port of ports) {
    servers.push(spawn('redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
      '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '2000',
    ], { stdio: 'ignore' }))
  }
  await until('the three redis-servers did not answer', () => ports.every((port) => cli(port, 'PING').stdout.trim() === 'PONG'))
  const create = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8', timeout: 30_000 })
  if (create.status !== 0) throw new Error(`redis-cli --cluster create failed:\n${create.stdout}${create.stderr}`)
  await until('the cluster did not reach cluster_state:ok', () => ports.every((port) => /cluster_state:ok/.test(cli(port, 'CLUSTER', 'INFO').stdout)))
  const nodes = ports.map((port) => `127.0.0.1:${port}`).join(',')
  console.log(`# redis cluster of 3 primaries on ${nodes}; running ${DIRS.join(' ')} against it`)

  const tap = spawn('npx', ['tap', '--disable-coverage', ...FILES], {
    stdio: 'inherit',
    env: { ...process.env, TEST_REDIS_CLUSTER_NODES: nodes },
  })
  const timer = setTimeout(() => tap.kill('SIGTERM'), RUN_TIMEOUT_MS)
  status = await new Promise((resolve) => tap.on('exit', (code) => resolve(code ?? 1)))
  clearTimeout(timer)
} catch (err) {
  console.error(`test:cluster: ${err.message}`)
} finally {
  stop()
}
process.exit(status)

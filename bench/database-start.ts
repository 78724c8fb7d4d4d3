import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { api, EMAIL_DOMAIN, machine, median, PASSWORD, ratio, resultsFile, row, rssMb, runOnPrivateRedis, type Server, startApi, stop } from './harness.js'

/**
 * `npm run bench:database`: the server's start-up time (spawn to /ready 200) and resident memory
 * (after start, then after a sign-up and some logins) on PostgreSQL and on the embedded database
 * (docs/ops.md, "Which database"), in one run. The PostgreSQL and the warm embedded starts
 * alternate, BENCH_DATABASE_RUNS (3) each; the embedded database's first start (initdb into a new
 * folder) runs once, first. The figures to quote are the embedded/PostgreSQL ratios.
 */
const RUNS = Number(process.env.BENCH_DATABASE_RUNS ?? 3)
const LOGINS = 20

interface Sample { startMs: number; rssStartedMb: number; rssUsedMb: number }

async function measure (env: Record<string, string>): Promise<Sample> {
  const began = performance.now()
  const server: Server = await startApi(redisUrl, { NODE_ENV: '', ...env })
  const startMs = performance.now() - began
  const rssStartedMb = rssMb(server)
  const email = `start-${process.hrtime.bigint()}@${EMAIL_DOMAIN}`
  await api(server, 'POST', '/users', { email, password: PASSWORD })
  for (let i = 0; i < LOGINS; i++) await api(server, 'POST', '/sessions', { email, password: PASSWORD })
  const rssUsedMb = rssMb(server)
  await stop(server)
  return { startMs, rssStartedMb, rssUsedMb }
}

let redisUrl = ''
runOnPrivateRedis('bench:database', async (_redis, url) => {
  redisUrl = url
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-embedded-'))
  try {
    const embedded = { DATABASE_URL: '', EMBEDDED_DATABASE_DIR: join(dir, 'db') }
    const first = await measure(embedded)
    const samples: Record<'postgres' | 'embedded', Sample[]> = { postgres: [], embedded: [] }
    for (let i = 0; i < RUNS; i++) {
      // Alternating, and which goes first, so the machine's noise falls on both alike.
      const order = i % 2 === 0 ? (['postgres', 'embedded'] as const) : (['embedded', 'postgres'] as const)
      for (const kind of order) samples[kind].push(await measure(kind === 'embedded' ? embedded : {}))
    }
    const of = (kind: 'postgres' | 'embedded', field: keyof Sample) => Math.round(median(samples[kind].map((s) => s[field])))
    const results = {
      date: new Date().toISOString(),
      machine: machine(),
      runs: RUNS,
      logins: LOGINS,
      firstEmbeddedStart: first,
      samples,
      ratios: {
        startMs: ratio(of('embedded', 'startMs'), of('postgres', 'startMs')),
        firstStartMs: ratio(first.startMs, of('postgres', 'startMs')),
        rssStartedMb: ratio(of('embedded', 'rssStartedMb'), of('postgres', 'rssStartedMb')),
        rssUsedMb: ratio(of('embedded', 'rssUsedMb'), of('postgres', 'rssUsedMb')),
      },
    }
    console.log(row(['', 'start (ms)', 'RSS started', `RSS after ${LOGINS} logins`]))
    console.log(row(['PostgreSQL (median)', of('postgres', 'startMs'), of('postgres', 'rssStartedMb'), of('postgres', 'rssUsedMb')]))
    console.log(row(['embedded, warm (median)', of('embedded', 'startMs'), of('embedded', 'rssStartedMb'), of('embedded', 'rssUsedMb')]))
    console.log(row(['embedded, first start', Math.round(first.startMs), Math.round(first.rssStartedMb), Math.round(first.rssUsedMb)]))
    console.log(row(['embedded / PostgreSQL', results.ratios.startMs, results.ratios.rssStartedMb, results.ratios.rssUsedMb]))
    console.log(`first start / PostgreSQL start: ${results.ratios.firstStartMs}`)
    console.log(`results: ${resultsFile('database-start', results)}`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

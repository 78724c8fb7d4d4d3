import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { uniqueId } from '../helpers/config.js'
import { sql, TEST_DATABASE_URL } from '../helpers/db.js'
import { PASSWORD, signUp } from '../helpers/http.js'
import { sleep } from '../helpers/wait.js'

// What Postgres itself sees of one instance under load: pg_stat_activity, sampled from another
// connection while logins and sign-ups run concurrently.
t.test('DATABASE_POOL_SIZE bounds the connections, and logins hold no transaction open', async (t) => {
  const name = `gatehouse-pool-${uniqueId()}`
  const url = new URL(TEST_DATABASE_URL)
  url.searchParams.set('application_name', name)
  // bcrypt at a real cost, so each login spends a while between its SELECT and its answer: a
  // transaction around the two would show as "idle in transaction" all that time.
  const ctx = await buildTestApp(t, { DATABASE_URL: url.toString(), DATABASE_POOL_SIZE: '2', BCRYPT_COST: '10' })
  const emails = Array.from({ length: 4 }, () => ctx.email())
  for (const email of emails) await signUp(ctx.app, email)

  const samples: { state: string; count: number }[][] = []
  let sampling = true
  const sampler = (async () => {
    while (sampling) {
      samples.push(await sql<{ state: string; count: number }>(
        'SELECT coalesce(state, \'\') AS state, count(*)::int AS count FROM pg_stat_activity WHERE application_name = $1 GROUP BY state', [name]))
      await sleep(5) // a sampling period, not a wait for a condition
    }
  })()
  const work = [
    ...Array.from({ length: 12 }, (_, i) => ctx.app.inject({ method: 'POST', url: '/sessions', payload: { email: emails[i % emails.length], password: PASSWORD } })),
    ...Array.from({ length: 12 }, () => ctx.app.inject({ method: 'POST', url: '/users', payload: { email: ctx.email(), password: PASSWORD } })),
  ]
  const statuses = (await Promise.all(work)).map((res) => res.statusCode)
  sampling = false
  await sampler

  t.same([...new Set(statuses)].sort(), [201], 'every login and sign-up succeeded, queued for the two connections')
  const totals = samples.map((rows) => rows.reduce((sum, row) => sum + row.count, 0))
  t.ok(samples.length > 20, `sampled ${samples.length} times`)
  t.ok(Math.max(...totals) <= 2, `never more than 2 connections (at most ${Math.max(...totals)})`)
  t.ok(Math.max(...totals) >= 1, 'and the instance did use them')
  const inTransaction = samples.flat().filter((row) => row.state.startsWith('idle in transaction'))
  t.same(inTransaction, [], 'no connection ever sat idle inside a transaction')
})

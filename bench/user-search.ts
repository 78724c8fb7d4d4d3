import pg from 'pg'
import { DATABASE_URL, importBuilt, machine, resultsFile } from './harness.js'

/**
 * `npm run bench:user-search`: the admin's user list and search (GET /admin/users) at 1,000,000
 * users (BENCH_USERS). A database of its own on the benchmarks' PostgreSQL (gatehouse_bench_users),
 * migrated by src/db/migrate.ts and filled once by one INSERT ... SELECT generate_series; later runs
 * reuse it. Each case is the very SQL the API runs (src/users/user-list.ts, userPageQueries), under
 * EXPLAIN (ANALYZE, BUFFERS), each query run twice (the second, warm, is reported): the indexes the
 * plan used, and the execution time (a search's two queries added up when both run). Results in docs/performance.md, "User search at 1,000,000 users".
 */
const USERS = Number(process.env.BENCH_USERS ?? 1_000_000)
const url = new URL(DATABASE_URL)
url.pathname = `/${process.env.BENCH_USERS_DATABASE ?? 'gatehouse_bench_users'}`
const USERS_URL = url.toString()

// Emails like `anna.3f9c1e.12345@gmail.com`: 40 first names, a 6-hex-digit fragment (md5 of the
// row number: rare substrings), the row number (unique), 8 domains (common substrings). Three users
// share each created_at millisecond, so paging must order them by id as well. One constant,
// well-formed bcrypt hash: nobody logs in to this database.
const NAMES = ['anna', 'andrew', 'bob', 'carla', 'chen', 'david', 'elena', 'farid', 'grace', 'hugo', 'ines', 'ivan', 'jade', 'john', 'kim', 'lara', 'leo', 'maria', 'mohamed', 'nina', 'omar', 'olga', 'paul', 'priya', 'quinn', 'rosa', 'sam', 'sara', 'tom', 'uma', 'victor', 'wei', 'xavier', 'yara', 'yusuf', 'zoe', 'alice', 'ben', 'clara', 'diego']
const DOMAINS = ['gmail.com', 'yahoo.com', 'outlook.com', 'example.org', 'corp.example.com', 'mail.test', 'proton.me', 'icloud.com']
const FILL = `
INSERT INTO users (id, email, password_hash, created_at, updated_at)
SELECT gen_random_uuid(),
       (ARRAY[${NAMES.map((n) => `'${n}'`).join(',')}])[1 + i % ${NAMES.length}] || '.' || substr(md5(i::text), 1, 6) || '.' || i
         || '@' || (ARRAY[${DOMAINS.map((d) => `'${d}'`).join(',')}])[1 + (i / 7) % ${DOMAINS.length}],
       '$2b$12$C6UzMDM.H6dfI/f/IKcEeO7A0n9Ez5oZBoJ9F0Vy2mSNs0d0ZW8vK',
       timestamp '2026-01-01' + (i / 3) * interval '7 milliseconds',
       now()
FROM generate_series(1, $1::int) AS i`

interface Case {
  name: string
  request: { query?: string; cursor?: string; limit?: number }
  /** Run with this index dropped (in a transaction rolled back after): what the choice of index is worth. */
  without?: string
}

interface PlanNode {
  'Node Type': string
  'Index Name'?: string
  'Relation Name'?: string
  Plans?: PlanNode[]
}

/** Each plan node that reads the table, as `Index Scan using users_created_at_id_idx`, outermost first. */
function accessPaths (node: PlanNode, out: string[] = []): string[] {
  if (node['Index Name']) out.push(`${node['Node Type']} using ${node['Index Name']}`)
  else if (node['Relation Name']) out.push(node['Node Type'])
  for (const child of node.Plans ?? []) accessPaths(child, out)
  return out
}

async function main () {
  const { migrate } = await importBuilt('db/migrate.js') as typeof import('../src/db/migrate.js')
  const { userPageQueries, USER_PAGE_DEFAULT } = await importBuilt('users/user-list.js') as typeof import('../src/users/user-list.js')
  await migrate(USERS_URL, { log: (line) => console.log(`bench: ${line}`) })
  const db = new pg.Client({ connectionString: USERS_URL })
  await db.connect()
  try {
    const [{ count }] = (await db.query<{ count: string }>('SELECT count(*) FROM users')).rows as [{ count: string }]
    if (Number(count) < USERS) {
      console.log(`bench: filling ${USERS} users (once; later runs reuse ${url.pathname.slice(1)})`)
      const started = Date.now()
      await db.query('TRUNCATE users CASCADE')
      await db.query(FILL, [USERS])
      await db.query('VACUUM ANALYZE users')
      console.log(`bench: filled in ${((Date.now() - started) / 1000).toFixed(1)} s`)
    }
    // Page 100 of the list: the cursor the API would have handed out with page 99.
    const [last] = (await db.query<{ ms: string; id: string }>('SELECT (extract(epoch FROM created_at) * 1000)::bigint::text AS ms, id::text FROM users ORDER BY created_at DESC, id DESC OFFSET $1 LIMIT 1', [99 * 50 - 1])).rows
    const page100 = `${last!.ms}.${last!.id}`
    // A rare fragment: one user's md5 part, so it matches a handful of users at most.
    const rareEmail = (await db.query<{ email: string }>('SELECT email FROM users ORDER BY created_at LIMIT 1 OFFSET 123456')).rows[0]!.email
    const [name, rare] = rareEmail.split('.') as [string, string]
    const cases: Case[] = [
      { name: 'list, first page', request: {} },
      { name: 'list, page 100 (cursor)', request: { cursor: page100 } },
      { name: 'prefix, common ("anna.", 1 in 40)', request: { query: 'anna.' } },
      { name: `prefix, rare ("${name}.${rare.slice(0, 4)}")`, request: { query: `${name}.${rare.slice(0, 4)}` } },
      { name: 'contains, common ("gmail", 1 in 8)', request: { query: 'gmail' } },
      { name: `contains, rare ("${rare}")`, request: { query: rare } },
      { name: 'contains, none ("qqqzzz")', request: { query: 'qqqzzz' } },
      { name: 'contains, common, page 100', request: { query: 'gmail', cursor: page100 } },
      // Matches about 1 in 600 users (a name and one hex digit): few enough that reading the list
      // newest first and filtering would walk some 30,000 rows for a page.
      { name: 'contains, 1 in 600 ("anna.a")', request: { query: 'anna.a' } },
      // Only the oldest users: the list's index, read newest first, would pass every other row.
      { name: 'contains, oldest users only (".1@")', request: { query: '.1@' } },
      { name: 'contains, digits ("12345")', request: { query: '12345' } },
      { name: '2 characters, prefix ("an")', request: { query: 'an' } },
      { name: '2 characters, rare prefix ("zq")', request: { query: 'zq' } },
      // No email starts with "co", but nearly every one holds a word starting so (".com").
      { name: '2 characters, no such prefix ("co")', request: { query: 'co' } },
      { name: '1 character ("x")', request: { query: 'x' } },
      { name: '1 character, no such prefix ("7")', request: { query: '7' } },
      { name: '"zq", trigram index only', request: { query: 'zq' }, without: 'users_email_prefix_idx' },
      { name: '"co", trigram index only', request: { query: 'co' }, without: 'users_email_prefix_idx' },
      { name: '"x", trigram index only', request: { query: 'x' }, without: 'users_email_prefix_idx' },
    ]
    const results = []
    console.log(`${'case'.padEnd(42)}${'ms'.padStart(9)}  rows  plan (a search's second query after "then")`)
    for (const { name, request, without } of cases) {
      const { recent, all } = userPageQueries(request)
      const steps: Array<{ query: 'recent' | 'all'; ms: number; rows: number; paths: string[] }> = []
      await db.query('BEGIN')
      try {
        if (without) await db.query(`DROP INDEX ${pg.escapeIdentifier(without)}`)
        // As listUsers runs them: `all` only when `recent` did not fill the page.
        for (const [query, sql] of [['recent', recent], ['all', all]] as const) {
          if (!sql) continue
          let plan: { Plan: PlanNode; 'Execution Time': number } | undefined
          for (let run = 0; run < 2; run++) {
            const explained = await db.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${sql.text}`, sql.values)
            plan = explained.rows[0]['QUERY PLAN'][0]
          }
          const rows = (await db.query(sql.text, sql.values)).rowCount ?? 0
          steps.push({ query, ms: plan!['Execution Time'], rows, paths: accessPaths(plan!.Plan) })
          if (rows > USER_PAGE_DEFAULT) break
        }
      } finally {
        await db.query('ROLLBACK')
      }
      const ms = Math.round(steps.reduce((sum, step) => sum + step.ms, 0) * 100) / 100
      const rows = steps.at(-1)!.rows
      results.push({ name, request, without, ms, rows, steps })
      console.log(`${name.padEnd(42)}${ms.toFixed(2).padStart(9)}  ${String(rows).padStart(4)}  ${steps.map((step) => `${step.paths.join(' > ')} (${step.ms.toFixed(2)})`).join(' then ')}`)
    }
    const file = resultsFile('user-search', { date: new Date().toISOString(), machine: machine(), users: USERS, results } as { date: string })
    console.log(`bench: results in ${file}`)
  } finally {
    await db.end()
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})

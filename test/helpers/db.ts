import pg from 'pg'

/** Tests never touch the service's own data: a database of their own. */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres:postgres@127.0.0.1:5432/gatehouse_test'

/** Runs one statement on its own connection (tests read and arrange Postgres directly through this). */
export async function sql<T extends pg.QueryResultRow = pg.QueryResultRow> (query: string, params: unknown[] = [], url = TEST_DATABASE_URL): Promise<T[]> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query<T>(query, params)).rows
  } finally {
    await client.end()
  }
}

/** Deletes the users a test app created, all on its own email domain. */
export async function deleteUsers (domain: string): Promise<void> {
  await sql('DELETE FROM users WHERE email LIKE $1', [`%@${domain}`])
}

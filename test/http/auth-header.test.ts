import { readFileSync } from 'node:fs'
import t from 'tap'
import { parseTokenHeader } from '@gatehouse/session-reader/credentials'

// The header cases every reader parses alike (contract/fixtures/token-header-cases.json; the Ruby
// gem's tests read the same file): the library's parser, which Gatehouse itself uses.
const CASES = JSON.parse(readFileSync(new URL('../../contract/fixtures/token-header-cases.json', import.meta.url), 'utf8')) as {
  accepted: Array<{ header: string, token: string }>
  rejected: Array<string | null>
}

t.test('reads every form Rails authenticate_with_http_token accepts', async (t) => {
  t.ok(CASES.accepted.length >= 19, 'the cases are there')
  for (const { header, token } of CASES.accepted) t.equal(parseTokenHeader(header), token, header)
})

t.test('finds no token in anything else', async (t) => {
  t.ok(CASES.rejected.length >= 14, 'the cases are there')
  for (const header of CASES.rejected) t.equal(parseTokenHeader(header ?? undefined), null, JSON.stringify(header))
})

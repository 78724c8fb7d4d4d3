import t from 'tap'
import { errors } from '../../src/shared/errors.js'

t.test('a 4xx carries no stack trace (it is an answer, not a fault); a 5xx keeps its own', async (t) => {
  const limit = Error.stackTraceLimit
  const expired = errors.expiredSession()
  t.equal(expired.stack?.split('\n').filter((line) => line.trim().startsWith('at ')).length, 0, '401: no frames captured')
  t.equal(expired.message, 'The session has expired or was ended; log in again')
  const down = errors.unavailable('redis')
  t.ok((down.stack?.split('\n').filter((line) => line.trim().startsWith('at ')).length ?? 0) > 0, '503: frames captured')
  t.equal(Error.stackTraceLimit, limit, 'the global limit is left as it was')
  t.ok((new Error('plain').stack?.split('\n').length ?? 0) > 1, 'and other errors still get their traces')
})

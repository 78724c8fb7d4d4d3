// The body of the password pool's worker threads (see passwords.ts): bcrypt's CPU time, off the
// event loop. Plain JavaScript, so the same file runs from src/ (tests) and dist/ (the server)
// without a TypeScript loader in the worker. The synchronous calls are right here: a worker runs
// one task at a time, and the async ones would only add yields that no one else is waiting for.
import bcrypt from 'bcryptjs'

/** @param {{ password: string, cost: number }} task */
export function hash({ password, cost }) {
  return bcrypt.hashSync(password, cost)
}

/** @param {{ password: string, hash: string }} task */
export function compare({ password, hash }) {
  return bcrypt.compareSync(password, hash)
}

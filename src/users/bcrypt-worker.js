// The body of the password pool's worker threads (see passwords.ts): bcrypt's CPU time, off the
// event loop. Plain JavaScript, so the same file runs from src/ (tests) and dist/ (the server)
// without a TypeScript loader in the worker. The synchronous calls are right here: a worker runs
// one task at a time, and the async ones would only add yields that no one else is waiting for.
import bcrypt from 'bcryptjs'
import { constants, setPriority } from 'node:os'

// The lowest CPU priority (nice 19) for this thread alone: bcrypt gets every cycle that nothing
// else wants, and the event loop, which serves every authenticated request, always comes first.
// During a login storm that keeps GET /me's latency where it was (docs/performance.md), while
// logins alone still use all the cores. Linux only: there the nice value belongs to the thread;
// elsewhere setpriority(0) would lower the whole process.
if (process.platform === 'linux') {
  try {
    setPriority(constants.priority.PRIORITY_LOW)
  } catch {
    // Not allowed here (some sandboxes): bcrypt simply keeps the normal priority.
  }
}

/** @param {{ password: string, cost: number }} task */
export function hash ({ password, cost }) {
  return bcrypt.hashSync(password, cost)
}

/** @param {{ password: string, hash: string }} task */
export function compare ({ password, hash }) {
  return bcrypt.compareSync(password, hash)
}

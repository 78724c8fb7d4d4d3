// The body of the password pool's worker threads (see bcrypt-pool.ts): bcrypt's CPU time, off the
// event loop. Plain JavaScript, so the same file runs from src/ (tests) and dist/ (the server)
// without a TypeScript loader in the worker. The synchronous calls are right here: a worker runs
// one task at a time, and the async ones would only add yields that no one else is waiting for.
import bcrypt from 'bcryptjs'
import { getPriority, setPriority } from 'node:os'
import { workerData } from 'node:worker_threads'

// A lower CPU priority (BCRYPT_NICE) for this thread alone: when the event loop, which serves
// every authenticated request, wants the core too, bcrypt gets a share of it set by the nice value
// rather than half; when nothing else runs, bcrypt gets it all. Not the lowest priority: at nice
// 19 a saturated event loop starves logins entirely (docs/performance.md, "Logins under load").
// Linux only: there the nice value belongs to the thread; elsewhere setpriority(0) would lower the
// whole process.
if (process.platform === 'linux') {
  try {
    setPriority(workerData?.nice ?? 0)
  } catch {
    // Not allowed here (some sandboxes): bcrypt simply keeps the normal priority.
  }
}

// Each call answers [its result, the milliseconds it took on this thread]: the pool's admission
// control (bcrypt-pool.ts) estimates from those how long a new call would wait.

/** @param {{ password: string, cost: number }} task */
export function hash ({ password, cost }) {
  const started = performance.now()
  return [bcrypt.hashSync(password, cost), performance.now() - started]
}

/** @param {{ password: string, hash: string }} task */
export function compare ({ password, hash }) {
  const started = performance.now()
  return [bcrypt.compareSync(password, hash), performance.now() - started]
}

/** This thread's nice value, as set above (null off Linux, where it is not per thread). */
export function priority () {
  return [process.platform === 'linux' ? getPriority() : null, 0]
}

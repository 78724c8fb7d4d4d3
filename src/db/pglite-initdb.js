// The embedded database's initdb, in a process of its own (src/db/embedded.ts): PGlite's first
// start grows its WebAssembly heap to some 600 MB, which the server's process would otherwise keep
// for its whole life. Plain JavaScript, so that the tests (which run src/ as TypeScript) and the
// built server fork the same file. Usage: node pglite-initdb.js <folder>
import { PGlite } from '@electric-sql/pglite'

const db = await PGlite.create(process.argv[2])
await db.close()

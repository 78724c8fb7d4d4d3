import { readFileSync } from 'node:fs'
import t from 'tap'

// The Node library and the Ruby gem read a session with the same read-only Lua script: one rule
// for what a reader fetches in its one round trip, written twice only because each package ships
// alone. This pins the two copies to each other, so they cannot drift apart.
const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8')

t.test("the Ruby gem's read script is the Node library's, character for character", async (t) => {
  const node = /const READ_SCRIPT = `([^`]+)`/.exec(read('packages/session-reader/src/reader.ts'))?.[1]
  const heredoc = /READ_SCRIPT = <<~LUA\.chomp\n([\s\S]+?)\n\s*LUA\n/.exec(read('packages/gatehouse-session-reader-ruby/lib/gatehouse/session_reader/reader.rb'))?.[1]
  t.ok(node && heredoc, 'both scripts found')
  // <<~ strips the heredoc's common indentation.
  const lines = heredoc!.split('\n')
  const indent = Math.min(...lines.filter((line) => line.trim() !== '').map((line) => line.length - line.trimStart().length))
  t.equal(lines.map((line) => line.slice(indent)).join('\n'), node)
})

import { execFile } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { TEST_REDIS_URL } from '../helpers/config.js'
import { newAdmin } from '../helpers/http.js'

// The Ruby gem (packages/gatehouse-session-reader-ruby): its minitest suite, run by Debian's ruby
// against the shared Redis and a real Gatehouse signing with EdDSA. The suite covers every case of
// contract/fixtures/reading-cases.json (reason and cause), sessions Gatehouse creates and ends
// (logout, a TTL ops shorten, a revoke-all, a client's policy and its ending), and the Rack
// middleware behind a real WEBrick server.

const GEM = fileURLToPath(new URL('../../packages/gatehouse-session-reader-ruby/', import.meta.url))
/** The suite has 115 reading cases and some 35 other tests: fewer runs means part of it never ran. */
const MIN_RUNS = 140

interface Run { code: number | null, stdout: string, stderr: string }

function run (command: string, args: string[], env: Record<string, string>, timeoutMs: number, cwd = GEM): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env }, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : null) : 0
        resolve({ code, stdout, stderr })
      })
  })
}

t.test('the gem\'s minitest suite passes, against the reading cases and a real Gatehouse on EdDSA', async (t) => {
  const { privateKey } = generateKeyPairSync('ed25519')
  const ctx = await buildTestApp(t, {
    JWT_ALGORITHM: 'EdDSA',
    JWT_PRIVATE_KEY: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    CORS_ORIGINS: 'https://app.example.com',
  })
  await ctx.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = ctx.app.server.address() as AddressInfo
  const admin = await newAdmin(ctx)

  const result = await run('ruby', ['test/run.rb', '--verbose'], {
    RACK_ENV: 'test',
    GATEHOUSE_TEST_REDIS_URL: TEST_REDIS_URL,
    // Under Gatehouse's prefix, so the test app's teardown deletes whatever the suite leaves.
    GATEHOUSE_TEST_PREFIX: `${ctx.config.redisKeyPrefix}rb:`,
    GATEHOUSE_URL: `http://127.0.0.1:${port}`,
    GATEHOUSE_KEY_PREFIX: ctx.config.redisKeyPrefix,
    GATEHOUSE_ADMIN_EMAIL: admin.email,
    // Users the suite signs up are on the test app's domain: deleted at teardown.
    GATEHOUSE_EMAIL_DOMAIN: ctx.email().split('@')[1]!,
  }, 100_000)

  const summary = /^(\d+) runs, (\d+) assertions, (\d+) failures, (\d+) errors, (\d+) skips$/m.exec(result.stdout)
  const output = `${result.stdout.slice(-6000)}\n${result.stderr.slice(-3000)}`
  t.equal(result.code, 0, 'ruby exits 0', { output })
  t.ok(summary, 'minitest printed its summary', { output })
  const [runs, assertions, failures, errors, skips] = (summary?.slice(1) ?? []).map(Number)
  t.ok(runs! >= MIN_RUNS, `${runs} runs (at least ${MIN_RUNS})`)
  t.ok(assertions! >= 4 * MIN_RUNS, `${assertions} assertions`)
  t.same({ failures, errors, skips }, { failures: 0, errors: 0, skips: 0 }, 'no failure, error or skip', { output })
  // The tests that need the live Gatehouse did run (a skip is counted above; these names must appear).
  for (const name of ['test_a_revoke_all_ends_the_other_sessions', 'test_a_ttl_ops_shorten_refuses_an_idle_session_at_once',
    'test_redis_or_the_jwks_down_is_a_503_never_a_pass', 'test_a_client_policy_sets_the_window_and_ending_the_client_revokes',
    'test_cluster_a_client_policy_and_how_a_session_ended_are_read_on_a_cluster', 'test_case_106_']) {
    t.match(result.stdout, name, `${name} ran`)
  }
})

t.test('the gemspec builds, and the gem installed from it loads alone', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-gem-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const gem = join(dir, 'gatehouse-session-reader.gem')
  const built = await run('gem', ['build', 'gatehouse-session-reader.gemspec', '--output', gem], {}, 60_000)
  t.equal(built.code, 0, 'gem build', { output: built.stdout + built.stderr })
  const installed = await run('gem', ['install', '--local', '--ignore-dependencies', '--no-document', '--install-dir', join(dir, 'gems'), gem], {}, 60_000, dir)
  t.equal(installed.code, 0, 'gem install', { output: installed.stdout + installed.stderr })
  const loaded = await run('ruby', ['-e', 'require "gatehouse/session_reader"; print Gatehouse::SessionReader::Credentials.parse_token_header(%(Token token="abc", device="ios")), " ", $LOADED_FEATURES.grep(/session_reader\\.rb/).first'],
    { GEM_HOME: join(dir, 'gems'), GEM_PATH: join(dir, 'gems') + ':/usr/lib/ruby/vendor_ruby:/usr/share/rubygems-integration/all' }, 30_000, dir)
  t.equal(loaded.code, 0, 'required', { output: loaded.stdout + loaded.stderr })
  t.match(loaded.stdout, new RegExp(`^abc ${dir}/gems/`), 'from the installed gem, not the repository')
})

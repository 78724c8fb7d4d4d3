import neostandard from 'neostandard'

/**
 * The layers of src/ and what each may import (docs/architecture.md). A file may import its own
 * folder and the folders named in `may`; any other `../<folder>/` or `../<file>.js` is an error.
 */
const LAYERS = {
  shared: [],
  config: ['shared'],
  redis: ['shared', 'config'],
  db: ['shared', 'config', 'redis', 'generated'],
  // The domain: four pieces that know nothing of HTTP, Fastify or each other.
  sessions: ['shared', 'config', 'redis'],
  users: ['shared', 'config', 'db', 'generated'],
  tokens: ['shared', 'config'],
  throttle: ['shared', 'config', 'redis'],
  // Outgoing mail (nodemailer) and the templates of account mail: knows nothing of users or HTTP.
  mail: ['shared'],
  // The use cases, above the domain.
  core: ['shared', 'sessions', 'users', 'tokens', 'throttle', 'mail'],
  metrics: ['shared', 'sessions'],
  // Per-minute counts for the console's charts, kept in Redis.
  activity: ['shared', 'config', 'redis'],
  // The HTTP edge.
  http: ['shared', 'config'],
  schemas: ['shared', 'http', 'sessions', 'users', 'activity'],
  plugins: ['shared', 'config', 'redis', 'db', 'sessions', 'users', 'tokens', 'throttle', 'mail', 'core', 'metrics', 'activity', 'http'],
  routes: ['shared', 'config', 'sessions', 'users', 'tokens', 'core', 'activity', 'http', 'schemas', 'plugins'],
  // The command line: domain, core and the plugins' builders, loaded lazily (see below).
  cli: ['shared', 'config', 'db', 'redis', 'sessions', 'users', 'core', 'plugins', 'throttle'],
}
const FOLDERS = [...Object.keys(LAYERS), 'generated', 'app', 'server']

function layerRules (layer, may) {
  const forbidden = FOLDERS.filter((folder) => folder !== layer && !may.includes(folder))
  // A folder's files reach other layers through `../` (`../../` from a subfolder such as
  // sessions/scripts/); a top-level file (src/metrics.ts) through `./`.
  const parent = ['metrics'].includes(layer) ? '\\.' : '(\\.\\./)*\\.\\.'
  return {
    files: [`src/${layer}/**/*.ts`, `src/${layer}.ts`],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{
          regex: `^${parent}/(${forbidden.join('|')})(/|\\.js$)`,
          message: `src/${layer} may import only ${may.length > 0 ? may.join(', ') : 'its own folder'} (docs/architecture.md)`,
        }],
      }],
    },
  }
}

export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'console/dist/**', 'console/dist.next/**', 'packages/*/dist/**', 'packages/*/dist.next/**', 'dist-bench/**', 'dist-dev/**', 'src/generated/**', '.tap/**', 'coverage/**'] }),
  {
    rules: {
      // Token claims, Redis fields and JSON bodies are snake_case by contract (docs/session-contract.md).
      camelcase: ['error', { properties: 'never', ignoreDestructuring: true }],
      // `void promise` marks a deliberately unawaited background task.
      'no-void': ['error', { allowAsStatement: true }],
      // Benchmarks and probes loop on a flag that another task clears; the rule cannot see that.
      'no-unmodified-loop-condition': 'off',
    },
  },
  ...Object.entries(LAYERS).map(([layer, may]) => layerRules(layer, may)),
  {
    // A command opens only what it uses: the heavy modules are imported with import() when needed.
    files: ['src/cli/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          {
            regex: `^(\\.\\./)+(${FOLDERS.filter((folder) => !LAYERS.cli.includes(folder)).join('|')})(/|\\.js$)`,
            message: 'src/cli may import only ' + LAYERS.cli.join(', ') + ' (docs/architecture.md)',
          },
          {
            regex: '^(\\.\\./)+(plugins/|db/prisma\\.js$|users/repository\\.js$|core/)',
            allowTypeImports: true,
            message: 'the CLI loads these with import() when a command needs them (src/cli/resources.ts)',
          },
        ],
      }],
    },
  },
]

import neostandard from 'neostandard'

/**
 * The layers of src/ and what each may import (docs/architecture.md). A file may import its own
 * folder and the folders named in `may`; any other `../<folder>/` or `../<file>.js` is an error.
 */
const LAYERS = {
  shared: [],
  config: ['shared'],
  redis: ['shared', 'config'],
  db: ['shared', 'config', 'generated'],
  // Counting, for Prometheus and the console's charts: infrastructure, so it knows no domain.
  telemetry: ['shared', 'config', 'redis'],
  // The domain: four pieces that know nothing of HTTP, Fastify or each other.
  sessions: ['shared', 'config', 'redis'],
  users: ['shared', 'config', 'db', 'generated'],
  tokens: ['shared', 'config'],
  throttle: ['shared', 'config', 'redis'],
  // Outgoing mail (nodemailer) and the templates of account mail: knows nothing of users or HTTP.
  mail: ['shared'],
  // The use cases, above the domain.
  core: ['shared', 'sessions', 'users', 'tokens', 'throttle', 'mail'],
  // The resources the server's plugins and the CLI both open (clients, stores), built from the configuration.
  resources: ['shared', 'config', 'redis', 'db', 'sessions', 'throttle', 'telemetry'],
  // The checks before start (do Redis and Postgres answer?), for the server and the CLI.
  startup: ['shared', 'config', 'redis'],
  // The HTTP edge.
  http: ['shared', 'config'],
  schemas: ['shared', 'http', 'sessions', 'users', 'telemetry'],
  // Each wraps a resource for Fastify: decorate, close it with the app, name what it needs.
  plugins: ['shared', 'config', 'redis', 'db', 'sessions', 'users', 'tokens', 'throttle', 'mail', 'core', 'telemetry', 'resources', 'http'],
  routes: ['shared', 'config', 'sessions', 'users', 'tokens', 'core', 'telemetry', 'http', 'schemas', 'plugins'],
  // The command line: domain, core and the resources' builders, loaded lazily (see below); never Fastify's plugins.
  cli: ['shared', 'config', 'db', 'redis', 'sessions', 'users', 'core', 'resources', 'startup', 'throttle'],
}
const FOLDERS = [...Object.keys(LAYERS), 'generated', 'app', 'server']

function layerRules (layer, may) {
  const forbidden = FOLDERS.filter((folder) => folder !== layer && !may.includes(folder))
  // A folder's files reach other layers through `../` (`../../` from a subfolder such as sessions/scripts/).
  const regex = `^(\\.\\./)+(${forbidden.join('|')})(/|\\.js$)`
  const message = `src/${layer} may import only ${may.length > 0 ? may.join(', ') : 'its own folder'} (docs/architecture.md)`
  return {
    files: [`src/${layer}/**/*.ts`],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex, message }] }],
      // import() too: the CLI loads its layers lazily, and the rule holds for those imports as well.
      'no-restricted-syntax': ['error', { selector: `ImportExpression > Literal[value=/${regex.replaceAll('/', '\\/')}/]`, message }],
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
            regex: '^(\\.\\./)+(resources/|db/prisma\\.js$|users/repository\\.js$|core/)',
            allowTypeImports: true,
            message: 'the CLI loads these with import() when a command needs them (src/cli/resources.ts)',
          },
        ],
      }],
    },
  },
]

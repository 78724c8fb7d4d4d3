import t from 'tap'
import { ConfigError } from '../src/config/index.js'
import { EmbeddedDatabaseError } from '../src/db/embedded.js'
import { MigrationError } from '../src/db/migrate.js'
import { NotOwnedError } from '../src/db/ownership.js'
import { DependencyError } from '../src/startup/preflight.js'
import { StartupError } from '../src/shared/startup-error.js'

// src/server.ts prints a StartupError as its one line and anything else with a stack: every
// start-up failure the operator fixes must be one, and keep its own name.
t.test('the start-up errors are StartupErrors, each under its own name', async (t) => {
  const each: Array<[Error, string]> = [
    [new ConfigError('PORT', 'must be a whole number'), 'ConfigError'],
    [new DependencyError('cannot reach Redis'), 'DependencyError'],
    [new MigrationError('migration x failed'), 'MigrationError'],
    [new EmbeddedDatabaseError('in use'), 'EmbeddedDatabaseError'],
    [new NotOwnedError('belongs to another user'), 'NotOwnedError'],
  ]
  for (const [err, name] of each) {
    t.ok(err instanceof StartupError, name)
    t.equal(err.name, name)
  }
  t.equal(new ConfigError('PORT', 'must be a whole number').message, 'Invalid configuration: PORT must be a whole number')
})

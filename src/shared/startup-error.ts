/**
 * A reason Gatehouse cannot start, or a `gatehouse` command cannot run, that the operator fixes: a
 * setting, a dependency that does not answer, a migration, the embedded database's folder, the
 * port. Its message says what is wrong and what to do, so it is printed as one line, with no stack.
 */
export class StartupError extends Error {
  override name = 'StartupError'
}

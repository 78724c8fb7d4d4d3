/** A setting that cannot be used: start-up stops with this one line, naming the variable. */
export class ConfigError extends Error {
  constructor (
    readonly variable: string,
    problem: string
  ) {
    super(`Invalid configuration: ${variable} ${problem}`)
    this.name = 'ConfigError'
  }
}

import { StartupError } from '../shared/startup-error.js'

/** A setting that cannot be used: start-up stops with this one line, naming the variable. */
export class ConfigError extends StartupError {
  readonly variable: string

  constructor (variable: string, problem: string) {
    super(`Invalid configuration: ${variable} ${problem}`)
    this.variable = variable
    this.name = 'ConfigError'
  }
}

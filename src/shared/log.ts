/** The slice of a pino logger the core writes to (Fastify's logger, or a silent one in the CLI). */
export interface Log {
  info(details: object, message: string): void
  warn(details: object, message: string): void
}

export const silentLog: Log = { info: () => {}, warn: () => {} }

import fp from 'fastify-plugin'
import type { Config } from '../config/index.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The configuration the app was built with (src/config: environment over .env over defaults). */
    config: Config
  }
}

export default fp<{ config: Config }>(async (app, { config }) => {
  app.decorate('config', config)
}, { name: 'config' })

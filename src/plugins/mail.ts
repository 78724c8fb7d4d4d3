import fp from 'fastify-plugin'
import { type AccountMail, createAccountMail } from '../core/account-mail.js'
import { createMailer } from '../mail/mailer.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Account mail (reset, verification); null when there is none (MAIL_TRANSPORT), and the routes that need it are not served. */
    accountMail: AccountMail | null
  }
}

/** The mailer (SMTP, or files in development) behind the account mail jobs; closed with the app. */
export default fp(async (app) => {
  const { config, metrics, accountTokens, throttles, log } = app
  const transport = config.mail.transport
  if (transport === null) {
    app.decorate('accountMail', null)
    return
  }
  const mailer = createMailer({
    transport,
    from: config.mail.from,
    log,
    onOutcome: (kind, outcome, reason) => metrics.mail.inc({ kind, outcome, reason: reason ?? '' }),
  })
  app.addHook('onClose', () => mailer.close())
  app.decorate('accountMail', createAccountMail({
    mailer,
    tokens: accountTokens,
    throttles,
    config: config.mail,
    log,
    onDropped: (kind, reason) => metrics.mail.inc({ kind, outcome: 'dropped', reason }),
  }))
}, { name: 'mail', dependencies: ['config', 'database', 'throttles', 'metrics'] })

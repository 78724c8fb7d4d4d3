import fp from 'fastify-plugin'
import { createAccountRecovery, type AccountRecovery } from '../core/account-recovery.js'
import { createAccountAdmin, createOwnAccountDeletion, createPasswordChange } from '../core/account-changes.js'
import { createLogin, type LoginOutcome } from '../core/login.js'
import { sessionUser, type UserOfSession } from '../core/session-user.js'
import { createSignUp } from '../core/sign-up.js'
import type { SessionUser } from '../sessions/types.js'

/** The use cases (src/core), ready to call from routes. */
export interface Accounts {
  signUp: ReturnType<typeof createSignUp>
  login: ReturnType<typeof createLogin>
  changePassword: ReturnType<typeof createPasswordChange>
  changeRole: ReturnType<typeof createAccountAdmin>['changeRole']
  deleteUser: ReturnType<typeof createAccountAdmin>['deleteUser']
  deleteOwnAccount: ReturnType<typeof createOwnAccountDeletion>
  /** Password reset and email verification; null without account mail (the routes are then not served). */
  recovery: AccountRecovery | null
  /** The user of a live session (completes a session an older release wrote). */
  sessionUser(sessionId: string, userId: string, live: SessionUser): Promise<UserOfSession | null>
}

declare module 'fastify' {
  interface FastifyInstance {
    accounts: Accounts
  }
}

export default fp(async (app) => {
  const { users, passwords, throttles, sessions, tokens, metrics, activity, log, accountTokens, accountMail, config } = app
  const admin = createAccountAdmin({ users, throttles, sessions })
  const countLogin = (result: LoginOutcome) => {
    metrics.logins.inc({ result })
    if (result === 'ok') activity.count('logins')
    else if (result === 'failed') activity.count('failed_logins')
  }
  const accounts: Accounts = {
    signUp: createSignUp({ users, passwords, throttles, sessions, tokens, mail: accountMail, requireVerifiedEmail: config.requireVerifiedEmail, log }),
    login: createLogin({ users, passwords, throttles, sessions, tokens, log, observe: countLogin, requireVerifiedEmail: config.requireVerifiedEmail }),
    changePassword: createPasswordChange({ users, passwords, throttles, sessions }),
    changeRole: admin.changeRole,
    deleteUser: admin.deleteUser,
    deleteOwnAccount: createOwnAccountDeletion({ users, passwords, throttles, sessions }),
    recovery: accountMail && createAccountRecovery({ users, passwords, throttles, sessions, tokens: accountTokens, mail: accountMail, log }),
    sessionUser: (sessionId, userId, live) => sessionUser({ users, sessions }, sessionId, userId, live),
  }
  app.decorate('accounts', accounts)
}, { name: 'accounts', dependencies: ['database', 'passwords', 'throttles', 'sessions', 'tokens', 'metrics', 'activity', 'mail'] })

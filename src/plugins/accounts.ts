import fp from 'fastify-plugin'
import { createAccountAdmin, createPasswordChange } from '../core/account-changes.js'
import { createLogin, type LoginOutcome } from '../core/login.js'
import { sessionUser } from '../core/session-user.js'
import { createSignUp } from '../core/sign-up.js'
import type { LiveSession, SessionUser } from '../sessions/store.js'

/** The use cases (src/core), ready to call from routes. */
export interface Accounts {
  signUp: ReturnType<typeof createSignUp>
  login: ReturnType<typeof createLogin>
  changePassword: ReturnType<typeof createPasswordChange>
  changeRole: ReturnType<typeof createAccountAdmin>['changeRole']
  deleteUser: ReturnType<typeof createAccountAdmin>['deleteUser']
  /** The user of a live session (completes a session an older release wrote). */
  sessionUser(sessionId: string, userId: string, live: LiveSession): Promise<SessionUser>
}

declare module 'fastify' {
  interface FastifyInstance {
    accounts: Accounts
  }
}

export default fp(async (app) => {
  const { users, passwords, throttles, sessions, tokens, metrics, activity, log } = app
  const admin = createAccountAdmin({ users, throttles, sessions })
  const countLogin = (result: LoginOutcome) => {
    metrics.logins.inc({ result })
    if (result === 'ok') activity.count('logins')
    else if (result === 'failed') activity.count('failed_logins')
  }
  const accounts: Accounts = {
    signUp: createSignUp({ users, passwords, throttles }),
    login: createLogin({ users, passwords, throttles, sessions, tokens, log, observe: countLogin }),
    changePassword: createPasswordChange({ users, passwords, throttles, sessions }),
    changeRole: admin.changeRole,
    deleteUser: admin.deleteUser,
    sessionUser: (sessionId, userId, live) => sessionUser({ users, sessions }, sessionId, userId, live),
  }
  app.decorate('accounts', accounts)
}, { name: 'accounts', dependencies: ['database', 'passwords', 'throttles', 'sessions', 'tokens', 'metrics', 'activity'] })

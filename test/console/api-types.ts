// Type-checked by `npm run typecheck` (no test runs it): each answer the console reads, as the schema
// that serialises it declares it (its one home), must fit the console's own copy of its shape
// (console/src/api-types.ts; the bundle imports nothing of the server): every field the console
// reads is there, of a type it handles. Fields the console does not read (the deprecated camelCase
// ones) may be left out of the copy.
import type { FromSchema } from 'json-schema-to-ts'
import type * as Console from '../../console/src/api-types.js'
import type { activityHour, eventHistory, eventRow } from '../../src/schemas/activity.js'
import type { user, userResponse } from '../../src/schemas/common.js'
import type { adminSessionList, recentSessions, session } from '../../src/schemas/sessions.js'
import type { clientPolicy, sessionTtlResponse } from '../../src/schemas/settings.js'
import type { userList } from '../../src/schemas/users.js'

/** true when every value of the server's type is one the console's type allows. */
type Fits<Server, Console> = [Server] extends [Console] ? true : false
/** Compiles only when given true. */
type Holds<T extends true> = T

type UserList = FromSchema<typeof userList>
type RecentSessions = FromSchema<typeof recentSessions>
type TtlAnswer = FromSchema<typeof sessionTtlResponse>

export type Checks = [
  Holds<Fits<FromSchema<typeof user>, Console.User>>,
  Holds<Fits<FromSchema<typeof userResponse>['user'], Console.User>>,
  Holds<Fits<FromSchema<typeof session>, Console.Session>>,
  Holds<Fits<FromSchema<typeof adminSessionList>, Console.SessionPage>>,
  Holds<Fits<TtlAnswer['clients'][number], Console.ClientPolicy>>,
  Holds<Fits<FromSchema<typeof clientPolicy>, Console.ClientPolicy>>,
  Holds<Fits<TtlAnswer, Console.TtlState>>,
  Holds<Fits<FromSchema<typeof activityHour>, Console.ActivityHour>>,
  Holds<Fits<UserList['users'][number], Console.ListedUser>>,
  Holds<Fits<UserList, Console.UserPage>>,
  Holds<Fits<RecentSessions['sessions'][number], Console.RecentSession>>,
  Holds<Fits<RecentSessions, Console.RecentSessionPage>>,
  Holds<Fits<FromSchema<typeof eventRow>, Console.EventRow>>,
  Holds<Fits<FromSchema<typeof eventHistory>, Console.EventHistory>>
]

// The shapes the console reads (docs/api.md): the answers of the admin API, as its schemas
// (src/schemas/) declare them. Written here because the console's bundle imports nothing of the
// server; test/console/api-types.ts fails the type check if one drifts from its schema.
export interface User { id: string, email: string, role: 'user' | 'admin', created_at: string, email_verified_at: string | null }
export interface Session { id: string, current: boolean, client: string, user_agent: string, ip: string, created_at: string, last_seen_at: string, expires_at: string, max_expires_at: string }
export interface SessionPage { user: User, sessions: Session[], next_cursor: string | null }
export interface ClientPolicy { client: string, idle_timeout_seconds: number | null, max_age_seconds: number | null, ended_before: string | null, set_by: string | null, set_at: string | null }
export interface TtlState { ttl_seconds: number, source: 'default' | 'override', default_ttl_seconds: number, max_ttl_seconds: number, set_by: string | null, set_at: string | null, clients: ClientPolicy[] }
export interface ActivityHour { minutes: number[], live_sessions: Array<number | null>, logins: number[], failed_logins: number[], throttled: number[] }
export interface ListedUser extends User { live_sessions: number, last_seen_at: string | null }
export interface UserPage { users: ListedUser[], next_cursor: string | null }
export interface RecentSession { id: string, user_id: string, email: string | null, client: string, user_agent: string, ip: string, created_at: string, last_seen_at: string, active_at: string, expires_at: string, max_expires_at: string }
export interface RecentSessionPage { live_sessions: { count: number, counted_at: string } | null, sessions: RecentSession[], next_cursor: string | null }
/** One row of the event list: `count` entries of the events stream (a run of one kind, user and reason collapses into one). */
export interface EventRow { id: string, first_id: string, at: string, first_at: string, type: string, reason: string, user_id: string, email: string | null, client: string, session_id: string, count: number }
export interface EventHistory { events: EventRow[], next_before: string | null, oldest_kept: string | null }

import type { IndexEntry, SessionScripts } from './scripts/index.js'
import type { SessionPolicy } from './session-ttl.js'
import type { SessionInfo, SessionPage } from './types.js'

/** A page of the device list, as the store asks for it (devicePage). */
export interface DevicePageRequest {
  /** Sessions on the page, the caller's own included (1 to SESSION_PAGE_MAX: the store bounds it). */
  size: number
  /** The previous page's cursor, `<created_at>.<id>`. */
  after?: string
  /** The caller's session id. */
  current?: string
  policy: SessionPolicy
}

/** How many index entries one created-gaps-2.lua call reads, and how many ids it hands to one list-sessions-n.lua call. */
const GAP_READ = 500
const GAP_IDS = 100
/** How many times one page reads on past sessions that only their hashes show ended (each read bounded). */
const FILL_ROUNDS = 4
/** How long one listing spends, at most, adding sessions an older release wrote to the creation index. */
const CATCH_UP_BUDGET_MS = 2000
/**
 * A created_at above every session's: a cursor of it and the caller's own id goes on from the top
 * of the list, after a first page that held only the caller's own session (limit=1).
 */
const TOP = '9999999999999999'

/**
 * The device list: a user's sessions, newest first by creation (the creation index,
 * `<prefix>user:{<user_id>}:created`), a page at a time. A session's place never changes, so paging
 * is stable: a session used, or a login made, between two page requests neither moves an entry nor
 * shifts a later page. The caller's own session, when given, leads the first page and is left out
 * wherever else it would fall. `next` is null when no live session follows the page
 * (created-page-2.lua says how far that is checked).
 */
export async function devicePage (scripts: SessionScripts, userId: string, request: DevicePageRequest): Promise<SessionPage> {
  const { size, current, policy } = request
  const [score = '', id = ''] = request.after?.split('.') ?? []
  const after: IndexEntry | undefined = request.after === undefined ? undefined : { score, id }
  // The caller's own session leads the first page (when it is live: list-sessions-n.lua says).
  const lead = after === undefined ? current : undefined
  const want = lead === undefined ? size : size - 1
  const read = (limit: number, from: IndexEntry | undefined) => scripts.createdPage({ userId, limit, after: from, skip: current })

  // created-page-2.lua knows what the indexes know; only the hashes know a session a revoke-all or
  // ops' ending of its client has ended (their keys wait for the sweep, or their expiry). So the
  // page is read one entry longer than it shows, and the hashes decide (list-sessions-n.lua): a
  // live one past the page means another page follows; ended ones are passed over, reading on, a
  // bounded number of times, so that neither a short page nor an empty last page comes of them.
  const taken: SessionInfo[] = []
  // Each id's entry as the creation index holds it: a cursor is an entry's place there.
  const entries = new Map<string, IndexEntry>()
  let leading: SessionInfo | undefined
  let beyond = false
  let from = after
  let more = true
  for (let round = 0; round < FILL_ROUNDS && more && !beyond; round++) {
    let page = await read(want - taken.length + 1, from)
    if (round === 0 && page.missing > 0) {
      await addToCreationIndex(scripts, userId, policy, page.missing)
      page = await read(want - taken.length + 1, from)
    }
    for (const entry of page.entries) entries.set(entry.id, entry)
    const ids = page.entries.map((entry) => entry.id)
    // Two bounded steps: the page's ids from the creation index, then their hashes (a Cluster
    // script must be given every key it reads, and only the index names them).
    const sessions = await scripts.listSessions({ userId, policy, ids: round === 0 && lead !== undefined ? [lead, ...ids] : ids })
    for (const session of sessions) {
      if (round === 0 && session.id === lead) leading = session
      else if (taken.length < want) taken.push(session)
      else beyond = true
    }
    more = page.more
    from = page.resume ?? from
  }
  const last = taken.at(-1)
  const resume: IndexEntry | null = last ? entries.get(last.id)! : after ?? (current === undefined ? null : { score: TOP, id: current })
  // Past FILL_ROUNDS with nothing settled, the next page goes on from the last entry read.
  const next = beyond ? resume : more && from ? from : null
  return { sessions: leading ? [leading, ...taken] : taken, next: next ? `${next.score}.${next.id}` : null }
}

/**
 * Sessions written by a release before the creation index (or by one still running during a
 * rolling update) are only in the user's index: the listing adds them, found by created-gaps-2.lua a
 * stretch at a time, through list-sessions-n.lua, which reads each one's created_at from its hash.
 * Only while the index holds more entries than the creation index (`missing`, an O(1) count each
 * listing makes): once per user, in practice. Every call is bounded; the walk as a whole stops at
 * CATCH_UP_BUDGET_MS, and the next listing goes on with it (a user with many thousands of such
 * sessions sees all of them after a few listings). Done here rather than by a start-up SCAN, which
 * would miss the sessions old instances go on writing during a rolling update.
 */
async function addToCreationIndex (scripts: SessionScripts, userId: string, policy: SessionPolicy, missing: number): Promise<void> {
  const started = Date.now()
  let start = 0
  for (let handled = 0; handled < missing && start !== -1 && Date.now() - started < CATCH_UP_BUDGET_MS;) {
    const gaps = await scripts.createdGaps({ userId, start, read: GAP_READ, most: GAP_IDS })
    if (gaps.ids.length > 0) await scripts.listSessions({ userId, policy, ids: gaps.ids })
    handled += gaps.ids.length
    // Gone sessions were just dropped from the index, which shifts the ranks after them up: start
    // as far back as that could be, rather than skip any.
    start = gaps.next === -1 ? -1 : Math.max(0, gaps.next - gaps.ids.length)
  }
}

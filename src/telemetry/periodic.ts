/** Work run every few seconds, one run at a time: a run asked for while one is under way joins it. */
export interface Periodic {
  /** Runs now, or joins the run under way. */
  run(): Promise<void>
  /** No more runs: the timer stops, and the run under way (if any) is waited for. */
  stop(): Promise<void>
}

/** `work` every `intervalMs`, never two at once. The timer does not keep the process alive. */
export function periodic (work: () => Promise<void>, intervalMs: number): Periodic {
  let running: Promise<void> | null = null
  const run = () => (running ??= work().finally(() => { running = null }))
  const timer = setInterval(() => { void run() }, intervalMs).unref()
  return {
    run,
    async stop () {
      clearInterval(timer)
      await running
    },
  }
}

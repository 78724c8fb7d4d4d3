/**
 * Whether `work` succeeds within `ms`: false when it fails or takes longer (it is not cancelled,
 * only no longer waited for). Never throws, and the timer never outlives the wait.
 */
export async function succeedsWithin (ms: number, work: () => Promise<unknown>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms)
  })
  try {
    return await Promise.race([work().then(() => true, () => false), timeout])
  } finally {
    clearTimeout(timer)
  }
}

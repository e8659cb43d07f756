import { AbortError } from '../errors.js'

/**
 * Runs `work` with a signal that aborts (with {@link AbortError}) after `ms` milliseconds; unlike
 * `AbortSignal.timeout`, the timer is cleared as soon as `work` settles, so thousands of short dials do not keep
 * thousands of timers and signals alive for the whole bound.
 */
export async function withDeadline<T>(ms: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(new AbortError(`deadline of ${ms} ms passed`)), ms)
  try {
    return await work(controller.signal)
  } finally {
    clearTimeout(timer)
  }
}

import { AbortError } from './errors.js'

/** Options every asynchronous skipmesh call accepts. */
export interface AbortOptions {
  /** Aborting it rejects the call with {@link AbortError}. */
  signal?: AbortSignal
}

/** Throws {@link AbortError} if `signal` is already aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw toAbortError(signal)
}

/** The {@link AbortError} for an aborted signal (its reason becomes the cause). */
export function toAbortError(signal: AbortSignal): AbortError {
  const reason: unknown = signal.reason
  if (reason instanceof AbortError) return reason
  return new AbortError(reason instanceof Error ? reason.message : 'The operation was aborted', {
    cause: reason,
  })
}

/**
 * Races `promise` against `signal`: rejects with {@link AbortError} as soon as the signal aborts, and removes
 * its listener when the promise settles first. The promise itself is not cancelled.
 */
export function raceSignal<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise
  if (signal.aborted) {
    promise.catch(() => {})
    return Promise.reject(toAbortError(signal))
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      promise.catch(() => {})
      reject(toAbortError(signal))
    }
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(err)
      },
    )
  })
}

/** Combines signals (any aborting aborts the result); `undefined` entries are ignored. */
export function anySignal(...signals: Array<AbortSignal | undefined>): AbortSignal | undefined {
  const present = signals.filter((s): s is AbortSignal => s !== undefined)
  if (present.length === 0) return undefined
  if (present.length === 1) return present[0]
  return AbortSignal.any(present)
}

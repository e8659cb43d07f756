import { toAbortError } from '../abort.js'

/** A promise with its settle functions. */
export interface Deferred<T> {
  readonly promise: Promise<T>
  resolve(value: T): void
  reject(err: unknown): void
}

/** A {@link Deferred}; its promise has a no-op rejection handler, so an unobserved rejection is not reported. */
export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void
  let reject!: (err: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  promise.catch(() => {})
  return { promise, resolve, reject }
}

/**
 * Runs `fn` in a later macrotask without timer clamping: `setImmediate` where there is one (Node), else a
 * `MessageChannel` (browsers; nested `setTimeout(0)` is clamped to 4 ms), else `setTimeout`.
 */
export function nextTask(fn: () => void): void {
  const g = globalThis as { setImmediate?: (fn: () => void) => unknown }
  if (typeof g.setImmediate === 'function') {
    g.setImmediate(fn)
    return
  }
  if (typeof MessageChannel === 'function') {
    const channel = new MessageChannel()
    channel.port1.onmessage = () => {
      channel.port1.close()
      fn()
    }
    channel.port2.postMessage(undefined)
    return
  }
  setTimeout(fn, 0)
}

/** Resolves in a later macrotask (see {@link nextTask}). */
export function yieldTask(): Promise<void> {
  return new Promise((resolve) => nextTask(resolve))
}

/**
 * Resolves after `ms` milliseconds; rejects with `AbortError` as soon as `signal` aborts (the timer is then
 * cleared).
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(toAbortError(signal))
      return
    }
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(toAbortError(signal!))
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

import { toAbortError } from '../abort.js'
import { TooManyPendingRequestsError } from '../errors.js'

/** How one entry of a {@link PendingRequests} table ends when nothing settles it. */
export interface PendingOptions {
  /** Milliseconds until the entry fails with `onTimeout()`. */
  timeoutMs: number
  /** Aborting it fails the entry with `AbortError`. */
  signal?: AbortSignal | undefined
  /** The error a timed-out entry rejects with. */
  onTimeout: () => Error
  /** Called once when the entry times out (after it left the table), e.g. to count it. */
  onTimedOut?: () => void
}

interface Entry<T, C> {
  readonly context: C
  resolve(value: T): void
  reject(err: unknown): void
  cleanup(): void
}

/**
 * A bounded table of requests waiting for their answer, keyed by nonce. Every entry leaves the table exactly
 * once — settled, failed, timed out or aborted — and its timer and abort listener go with it, so the table
 * never leaks.
 */
export class PendingRequests<T, C = undefined> {
  readonly #max: number
  readonly #entries = new Map<string, Entry<T, C>>()

  constructor(options: { max: number }) {
    this.#max = options.max
  }

  /** Entries waiting now. */
  get size(): number {
    return this.#entries.size
  }

  has(nonce: string): boolean {
    return this.#entries.has(nonce)
  }

  /** The context the entry of `nonce` was opened with (e.g. whom the request went to), if it is waiting. */
  context(nonce: string): C | undefined {
    return this.#entries.get(nonce)?.context
  }

  /**
   * Adds an entry and returns the promise its answer settles. `context` stays with the entry (see
   * {@link PendingRequests.context}).
   * @throws {TooManyPendingRequestsError} (synchronously) when the table is full or the nonce is in use.
   * @throws {AbortError} (as a rejection) when `options.signal` aborts first.
   */
  open(nonce: string, options: PendingOptions, ...context: C extends undefined ? [] : [C]): Promise<T> {
    if (this.#entries.size >= this.#max) {
      throw new TooManyPendingRequestsError(`${this.#max} requests are already waiting`)
    }
    if (this.#entries.has(nonce)) throw new TooManyPendingRequestsError('nonce already in use')
    const signal = options.signal
    return new Promise<T>((resolve, reject) => {
      if (signal?.aborted === true) {
        reject(toAbortError(signal))
        return
      }
      const onAbort = (): void => {
        this.#entries.delete(nonce)
        cleanup()
        reject(toAbortError(signal!))
      }
      const timer = setTimeout(() => {
        this.#entries.delete(nonce)
        cleanup()
        options.onTimedOut?.()
        reject(options.onTimeout())
      }, options.timeoutMs)
      const cleanup = (): void => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#entries.set(nonce, { context: context[0] as C, resolve, reject, cleanup })
    })
  }

  /** Resolves the entry of `nonce`; false when there is none (late, unknown or already settled). */
  settle(nonce: string, value: T): boolean {
    const entry = this.#take(nonce)
    if (entry === undefined) return false
    entry.resolve(value)
    return true
  }

  /** Rejects the entry of `nonce` with `err`; false when there is none. */
  fail(nonce: string, err: unknown): boolean {
    const entry = this.#take(nonce)
    if (entry === undefined) return false
    entry.reject(err)
    return true
  }

  /** Rejects every entry with `err` (e.g. on stop). */
  failAll(err: unknown): void {
    for (const nonce of [...this.#entries.keys()]) this.fail(nonce, err)
  }

  #take(nonce: string): Entry<T, C> | undefined {
    const entry = this.#entries.get(nonce)
    if (entry === undefined) return undefined
    this.#entries.delete(nonce)
    entry.cleanup()
    return entry
  }
}

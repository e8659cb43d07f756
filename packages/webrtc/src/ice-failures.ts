/**
 * The ICE failures of a manager's attempts, per remote: counted (both sides: the dialling one and the one that
 * answered), and remembered so that a dial that ends at its timeout (the dialer's own `ConnectionFailedError`) can
 * say why when an attempt of it got as far as the offer/answer exchange and ICE never connected.
 *
 * @module
 */
import { IceConnectionFailedError } from './errors.js'

/** One manager's record of {@link IceConnectionFailedError}s; see the module comment. */
export class IceFailures {
  /** The last ICE failure per remote (hex id), with when it happened (`performance.now()`). */
  readonly #last = new Map<string, { at: number; error: IceConnectionFailedError }>()
  #count = 0

  /** Attempts that ended with an {@link IceConnectionFailedError}. */
  get count(): number {
    return this.#count
  }

  /** An attempt to `remote` ended with `reason`: counted and remembered when it is an ICE failure. */
  closed(remote: string, reason: Error | undefined): void {
    if (!(reason instanceof IceConnectionFailedError)) return
    this.#count++
    this.#last.set(remote, { at: performance.now(), error: reason })
  }

  /** A connection to `remote` opened: an earlier failure explains nothing any more. */
  opened(remote: string): void {
    this.#last.delete(remote)
  }

  /**
   * The error a dial to `remote` started at `since` (`performance.now()`) rejects with: `err`, or an
   * {@link IceConnectionFailedError} when `err` is a plain `ConnectionFailedError` (the dial timed out) and an
   * attempt of this dial failed for ICE.
   */
  explain(remote: string, err: unknown, since: number): unknown {
    if (!(err instanceof Error) || err.name !== 'ConnectionFailedError') return err
    const last = this.#last.get(remote)
    if (last === undefined || last.at < since) return err
    return new IceConnectionFailedError(`${err.message}: ${last.error.message}`, last.error.facts, {
      cause: err,
    })
  }

  /** Forgets every remote (the manager stopped). */
  clear(): void {
    this.#last.clear()
  }
}

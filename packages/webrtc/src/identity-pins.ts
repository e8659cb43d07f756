/**
 * The public key each remote identifier was first authenticated with, per manager: trust on first use. A later
 * connection that proves another key for a pinned identifier (or proves none) is refused, whatever the signaling
 * server bound the identifier to meanwhile. Bounded: the least recently confirmed pin goes first.
 *
 * @module
 */

/** Pins kept by default. */
export const DEFAULT_MAX_PINS = 4096

/** A bounded, least-recently-used table of identifier (hex) → public key (hex). */
export class IdentityPins {
  readonly #max: number
  readonly #pins = new Map<string, string>()

  constructor(max = DEFAULT_MAX_PINS) {
    this.#max = max
  }

  /** Pins held now (at most the bound). */
  get size(): number {
    return this.#pins.size
  }

  /** The key pinned for `id`, if any. */
  get(id: string): string | undefined {
    return this.#pins.get(id)
  }

  /** Pins `key` for `id` (replacing any other) as the most recently confirmed pin; evicts the oldest past the bound. */
  pin(id: string, key: string): void {
    this.#pins.delete(id)
    this.#pins.set(id, key)
    if (this.#pins.size > this.#max) {
      const oldest = this.#pins.keys().next().value
      if (oldest !== undefined) this.#pins.delete(oldest)
    }
  }
}

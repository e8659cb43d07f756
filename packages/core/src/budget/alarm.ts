/** The one timer of the budget: wakes it at the next idle deadline or tag expiry. */
export class Alarm {
  #timer: ReturnType<typeof setTimeout> | undefined
  #at = Number.POSITIVE_INFINITY

  /** Rings `fire` at `at` (ms) unless it already rings no later; `undefined` cancels. */
  set(at: number | undefined, now: number, fire: () => void): void {
    if (at === undefined) {
      this.cancel()
      return
    }
    if (this.#timer !== undefined && this.#at <= at) return
    this.cancel()
    this.#at = at
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined
        this.#at = Number.POSITIVE_INFINITY
        fire()
      },
      Math.max(0, at - now),
    )
  }

  cancel(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#at = Number.POSITIVE_INFINITY
  }
}

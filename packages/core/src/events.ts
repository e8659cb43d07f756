/**
 * Typed events, one style for the whole repository: an event map of handler signatures, `on()` returning an
 * unsubscribe function (after nanoevents).
 *
 * @module
 */

/** A map from event name to handler signature. */
// biome-ignore lint/suspicious/noExplicitAny: handler parameter lists are arbitrary per event
export type EventMap = { [event: string]: (...args: any[]) => void }

/**
 * The constraint the event-map parameters use: every key of `T` maps to a handler. Unlike {@link EventMap}
 * it accepts `interface` event maps (which have no implicit index signature).
 */
// biome-ignore lint/suspicious/noExplicitAny: handler parameter lists are arbitrary per event
export type EventsOf<T> = { [K in keyof T]: (...args: any[]) => void }

/** Removes the handler it was returned for. Calling it twice is harmless. */
export type Unsubscribe = () => void

/** Something that emits the events of `Events`. */
export interface TypedEvents<Events extends EventsOf<Events>> {
  /** Subscribes `handler` to `event`; returns the function that unsubscribes it. */
  on<E extends keyof Events>(event: E, handler: Events[E]): Unsubscribe
}

/**
 * A minimal synchronous emitter. A handler that throws does not stop the others; the error goes to
 * `onHandlerError` (by default it is rethrown asynchronously so that it is seen, never swallowed).
 */
export class Emitter<Events extends EventsOf<Events>> implements TypedEvents<Events> {
  readonly #handlers = new Map<keyof Events, Set<Events[keyof Events]>>()
  readonly #onHandlerError: (err: unknown) => void

  constructor(options: { onHandlerError?: (err: unknown) => void } = {}) {
    this.#onHandlerError =
      options.onHandlerError ??
      ((err) => {
        queueMicrotask(() => {
          throw err
        })
      })
  }

  on<E extends keyof Events>(event: E, handler: Events[E]): Unsubscribe {
    let set = this.#handlers.get(event)
    if (set === undefined) {
      set = new Set()
      this.#handlers.set(event, set)
    }
    set.add(handler)
    return () => {
      set.delete(handler)
    }
  }

  emit<E extends keyof Events>(event: E, ...args: Parameters<Events[E]>): void {
    const set = this.#handlers.get(event)
    if (set === undefined || set.size === 0) return
    for (const handler of [...set]) {
      try {
        handler(...args)
      } catch (err) {
        this.#onHandlerError(err)
      }
    }
  }

  /** How many handlers `event` has. */
  listenerCount(event: keyof Events): number {
    return this.#handlers.get(event)?.size ?? 0
  }

  /** Removes every handler. */
  clear(): void {
    this.#handlers.clear()
  }
}

import { ComponentAlreadyStartedError, ComponentStoppedError, IrrecoverableError } from './errors.js'
import { deferred } from './internal/async.js'

/**
 * A cancellable context that carries fatal errors upward (skipgraph-go's `ThrowableContext`).
 * Built on `AbortSignal`: `signal` aborts when the context is cancelled, when its parent's does, or when an
 * irrecoverable error is thrown into it.
 */
export interface ThrowableContext {
  /** Aborts when this context is cancelled (its reason is the cause). */
  readonly signal: AbortSignal
  /**
   * Reports an error the component cannot recover from. It travels to the parent context; at the root it is
   * recorded once (later errors are ignored) and the whole context tree is cancelled.
   */
  throwIrrecoverable(err: unknown): void
  /** A child context: cancelled with this one; its irrecoverable errors go to `onIrrecoverable` if given, else here. */
  child(onIrrecoverable?: (err: Error) => void): ThrowableContext
}

/** The top of a context tree: where irrecoverable errors surface. */
export interface RootContext extends ThrowableContext {
  /** The first irrecoverable error, once one was thrown. */
  readonly error: Error | undefined
  /** Resolves with the first irrecoverable error (never rejects). */
  irrecoverable(): Promise<Error>
  /** Cancels the tree (components started with it stop). */
  cancel(reason?: unknown): void
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new IrrecoverableError(String(err), { cause: err })
}

class ChildContext implements ThrowableContext {
  readonly #controller = new AbortController()
  readonly #report: (err: Error) => void
  /** Removes this context's listener from its parent's signal (a no-op once detached or without a parent). */
  #detach: () => void = () => {}

  constructor(parent: AbortSignal | undefined, report: (err: Error) => void) {
    this.#report = report
    if (parent !== undefined) {
      if (parent.aborted) this.#controller.abort(parent.reason)
      else {
        const onAbort = (): void => this.#controller.abort(parent.reason)
        parent.addEventListener('abort', onAbort, { once: true })
        this.#detach = () => {
          parent.removeEventListener('abort', onAbort)
          this.#detach = () => {}
        }
      }
    }
  }

  /**
   * Stops following the parent's signal. Module-internal: a component detaches its context once it has stopped,
   * so that a long-lived parent does not keep one listener per component it ever started.
   */
  detach(): void {
    this.#detach()
  }

  get signal(): AbortSignal {
    return this.#controller.signal
  }

  throwIrrecoverable(err: unknown): void {
    this.#report(asError(err))
  }

  child(onIrrecoverable?: (err: Error) => void): ThrowableContext {
    return new ChildContext(this.signal, onIrrecoverable ?? ((err) => this.#report(err)))
  }

  /** Cancels this context (and its children). Module-internal: components cancel their own context on stop. */
  abort(reason: unknown): void {
    this.#controller.abort(reason)
  }
}

class Root extends ChildContext implements RootContext {
  #error: Error | undefined
  readonly #waiters: Array<(err: Error) => void> = []

  constructor(onIrrecoverable: ((err: Error) => void) | undefined) {
    super(undefined, (err) => {
      if (this !== undefined) this.#record(err, onIrrecoverable)
    })
  }

  #record(err: Error, onIrrecoverable: ((err: Error) => void) | undefined): void {
    if (this.#error !== undefined) return
    this.#error = err
    for (const w of this.#waiters.splice(0)) w(err)
    onIrrecoverable?.(err)
    this.abort(err)
  }

  get error(): Error | undefined {
    return this.#error
  }

  irrecoverable(): Promise<Error> {
    if (this.#error !== undefined) return Promise.resolve(this.#error)
    return new Promise((resolve) => this.#waiters.push(resolve))
  }

  cancel(reason?: unknown): void {
    this.abort(reason ?? new ComponentStoppedError('context cancelled'))
  }
}

/** A new root context; `onIrrecoverable` is called once, with the first irrecoverable error. */
export function createRootContext(options: { onIrrecoverable?: (err: Error) => void } = {}): RootContext {
  return new Root(options.onIrrecoverable)
}

/**
 * The lifecycle every skipmesh component shares (skipgraph-go's `Startable` + `ReadyDoneAware`).
 * `start` once; `ready()` and `done()` may be awaited by anyone, any number of times; `stop()` is idempotent.
 */
export interface Component {
  /**
   * Starts the component. Without a context it makes its own root context. Cancelling the context stops it.
   * Startup failures are thrown into the context as irrecoverable errors and reject `ready()`.
   * @throws {ComponentAlreadyStartedError} on a second call.
   */
  start(ctx?: ThrowableContext): void
  /** Resolves when the component is ready. @throws {ComponentStoppedError} if it stopped before that. */
  ready(): Promise<void>
  /** Resolves when the component has stopped (never rejects). */
  done(): Promise<void>
  /** Stops the component and resolves when it is done. Idempotent; a never-started component is just marked done. */
  stop(): Promise<void>
}

/**
 * Implements the {@link Component} lifecycle; subclasses provide `onStart` (resolves when ready) and
 * `onStop` (releases everything). Use `this.context` for the context the component was started with.
 */
export abstract class AbstractComponent implements Component {
  readonly #ready = deferred<void>()
  readonly #done = deferred<void>()
  #state: 'new' | 'starting' | 'ready' | 'stopping' | 'stopped' = 'new'
  #context: ChildContext | undefined
  #stopping: Promise<void> | undefined

  /** Brings the component up; resolving makes it ready. The context's signal aborts on stop. */
  protected abstract onStart(ctx: ThrowableContext): Promise<void>
  /** Releases what `onStart` acquired. Called once, also after a failed start. */
  protected abstract onStop(): Promise<void>

  /** The context the component was started with. @throws {ComponentStoppedError} before start. */
  protected get context(): ThrowableContext {
    if (this.#context === undefined) throw new ComponentStoppedError('component not started')
    return this.#context
  }

  /** `'new' | 'starting' | 'ready' | 'stopping' | 'stopped'`. */
  get state(): 'new' | 'starting' | 'ready' | 'stopping' | 'stopped' {
    return this.#state
  }

  start(ctx?: ThrowableContext): void {
    if (this.#state !== 'new')
      throw new ComponentAlreadyStartedError(`${this.constructor.name} was already started`)
    const parent = ctx ?? createRootContext()
    const own = new ChildContext(parent.signal, (err) => {
      parent.throwIrrecoverable(err)
      void this.stop()
    })
    this.#context = own
    if (own.signal.aborted) {
      // started with an already cancelled context: onStart never runs (nor onStop); it just ends up stopped
      this.#stopping = this.#done.promise
      this.#state = 'stopped'
      own.detach()
      this.#ready.reject(
        new ComponentStoppedError(`${this.constructor.name} started with a cancelled context`),
      )
      this.#done.resolve()
      return
    }
    this.#state = 'starting'
    own.signal.addEventListener('abort', () => void this.stop(), { once: true })
    let started: Promise<void>
    try {
      started = this.onStart(own)
    } catch (err) {
      started = Promise.reject(err)
    }
    started.then(
      () => {
        if (this.#state !== 'starting') return
        this.#state = 'ready'
        this.#ready.resolve()
      },
      (err: unknown) => {
        this.#ready.reject(err)
        // a start cut short by stop() is not a failure worth surfacing
        if (this.#state === 'starting') own.throwIrrecoverable(err)
      },
    )
  }

  ready(): Promise<void> {
    return this.#ready.promise
  }

  done(): Promise<void> {
    return this.#done.promise
  }

  stop(): Promise<void> {
    if (this.#stopping !== undefined) return this.#stopping
    const wasStarted = this.#state !== 'new'
    this.#state = 'stopping'
    this.#ready.reject(new ComponentStoppedError(`${this.constructor.name} stopped before it was ready`))
    // set before anything runs: aborting the context below re-enters stop() through its abort listener
    this.#stopping = this.#done.promise
    void (async () => {
      // the context's signal aborts on stop, so work started under it is cancelled
      this.#context?.abort(new ComponentStoppedError(`${this.constructor.name} stopped`))
      if (wasStarted) {
        try {
          await this.onStop()
        } catch {
          // stopping is best effort: a failure to release must not keep `done()` pending
        }
      }
      this.#state = 'stopped'
      this.#context?.detach()
      this.#done.resolve()
    })()
    return this.#stopping
  }
}

/**
 * Starts a tree of components: children start in order with child contexts, the manager is ready when every
 * child is, stops them in reverse order, and a child's irrecoverable error stops the tree and surfaces once at
 * the manager's own context (and so at the root).
 */
export class ComponentManager extends AbstractComponent {
  readonly #children: readonly Component[]
  readonly #contexts: ChildContext[] = []
  #failed = false

  constructor(children: readonly Component[]) {
    super()
    this.#children = [...children]
  }

  protected async onStart(ctx: ThrowableContext): Promise<void> {
    for (const child of this.#children) {
      // Not linked to `ctx`'s signal: when the tree is cancelled, this manager stops its children itself, in
      // reverse order, rather than letting every child stop on its own at once.
      const childCtx = new ChildContext(undefined, (err) => {
        if (this.#failed) return
        this.#failed = true
        ctx.throwIrrecoverable(err)
      })
      this.#contexts.push(childCtx)
      child.start(childCtx)
    }
    await Promise.all(this.#children.map((c) => c.ready()))
  }

  protected async onStop(): Promise<void> {
    for (const [i, child] of [...this.#children.entries()].reverse()) {
      await child.stop()
      this.#contexts[i]?.abort(new ComponentStoppedError('component manager stopped'))
    }
  }
}

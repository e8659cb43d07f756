import { getEventListeners } from 'node:events'
import { describe, expect, it } from 'vitest'
import { ComponentAlreadyStartedError, ComponentStoppedError, IrrecoverableError } from '../src/errors.js'
import {
  AbstractComponent,
  ComponentManager,
  createRootContext,
  type ThrowableContext,
} from '../src/lifecycle.js'

/** A component that records its lifecycle into a shared log and can be made ready or failed on demand. */
class Probe extends AbstractComponent {
  ctx: ThrowableContext | undefined
  readonly #log: string[]
  readonly #name: string
  #release!: () => void
  #fail!: (err: unknown) => void
  readonly #gate: Promise<void>

  constructor(name: string, log: string[], options: { manual?: boolean } = {}) {
    super()
    this.#name = name
    this.#log = log
    this.#gate = options.manual
      ? new Promise<void>((resolve, reject) => {
          this.#release = resolve
          this.#fail = reject
        })
      : Promise.resolve()
  }

  protected async onStart(ctx: ThrowableContext): Promise<void> {
    this.ctx = ctx
    this.#log.push(`start ${this.#name}`)
    await this.#gate
  }

  protected async onStop(): Promise<void> {
    this.#log.push(`stop ${this.#name}`)
  }

  release(): void {
    this.#release()
  }

  failStart(err: unknown): void {
    this.#fail(err)
  }
}

describe('component lifecycle', () => {
  it('throws ComponentAlreadyStartedError on a second start', async () => {
    const c = new Probe('a', [])
    c.start()
    expect(() => c.start()).toThrow(ComponentAlreadyStartedError)
    await c.ready()
    await c.stop()
    expect(() => c.start()).toThrow(ComponentAlreadyStartedError)
  })

  it('lets many callers await ready() and done()', async () => {
    const c = new Probe('a', [], { manual: true })
    c.start()
    const readies = Array.from({ length: 5 }, () => c.ready())
    expect(c.state).toBe('starting')
    c.release()
    await Promise.all(readies)
    expect(c.state).toBe('ready')
    await c.ready()
    const dones = Array.from({ length: 5 }, () => c.done())
    await c.stop()
    await Promise.all(dones)
    await c.done()
    expect(c.state).toBe('stopped')
  })

  it('stops idempotently: onStop runs once however often stop is called', async () => {
    const log: string[] = []
    const c = new Probe('a', log)
    c.start()
    await c.ready()
    await Promise.all([c.stop(), c.stop()])
    await c.stop()
    expect(log).toEqual(['start a', 'stop a'])
  })

  it('marks a never-started component done without running onStop', async () => {
    const log: string[] = []
    const c = new Probe('a', log)
    await c.stop()
    await c.done()
    expect(log).toEqual([])
    await expect(c.ready()).rejects.toBeInstanceOf(ComponentStoppedError)
  })

  it('rejects ready() with ComponentStoppedError when stopped before it was ready', async () => {
    const c = new Probe('a', [], { manual: true })
    c.start()
    const ready = c.ready()
    await c.stop()
    await expect(ready).rejects.toBeInstanceOf(ComponentStoppedError)
  })

  it('rejects ready() and surfaces a failed start at the root context', async () => {
    const root = createRootContext()
    const c = new Probe('a', [], { manual: true })
    c.start(root)
    const boom = new Error('cannot bind')
    c.failStart(boom)
    await expect(c.ready()).rejects.toBe(boom)
    expect(await root.irrecoverable()).toBe(boom)
    await c.done()
  })

  it('stops when its context is cancelled', async () => {
    const root = createRootContext()
    const c = new Probe('a', [])
    c.start(root)
    await c.ready()
    root.cancel()
    await c.done()
    expect(c.state).toBe('stopped')
  })

  it('a stopped component leaves no listener on a long-lived parent context', async () => {
    const root = createRootContext()
    const baseline = getEventListeners(root.signal, 'abort').length
    for (let i = 0; i < 20; i++) {
      const c = new Probe(`c${i}`, [])
      c.start(root)
      await c.ready()
      expect(getEventListeners(root.signal, 'abort').length).toBe(baseline + 1)
      await c.stop()
      expect(getEventListeners(root.signal, 'abort').length).toBe(baseline)
    }
    // still linked while running: cancelling the root stops a running component
    const last = new Probe('last', [])
    last.start(root)
    await last.ready()
    root.cancel()
    await last.done()
    expect(last.state).toBe('stopped')
  })

  it('aborts the context signal it started with when stopped', async () => {
    const c = new Probe('a', [])
    c.start()
    await c.ready()
    expect(c.ctx!.signal.aborted).toBe(false)
    await c.stop()
    expect(c.ctx!.signal.aborted).toBe(true)
    expect(c.ctx!.signal.reason).toBeInstanceOf(ComponentStoppedError)
  })

  it('ends up stopped without running onStart when started with a cancelled context', async () => {
    const log: string[] = []
    const root = createRootContext()
    root.cancel()
    const c = new Probe('a', log)
    c.start(root)
    await expect(c.ready()).rejects.toBeInstanceOf(ComponentStoppedError)
    await c.done()
    expect(() => c.start()).toThrow(ComponentAlreadyStartedError)
    expect(log).toEqual([])
  })

  it('wraps a non-Error irrecoverable value in IrrecoverableError', async () => {
    const root = createRootContext()
    const c = new Probe('a', [])
    c.start(root)
    await c.ready()
    c.ctx!.throwIrrecoverable('disk on fire')
    const err = await root.irrecoverable()
    expect(err).toBeInstanceOf(IrrecoverableError)
    await c.done()
  })
})

describe('component manager', () => {
  it('starts children in order, is ready when all are, and stops them in reverse order', async () => {
    const log: string[] = []
    const a = new Probe('a', log)
    const b = new Probe('b', log, { manual: true })
    const c = new Probe('c', log)
    const manager = new ComponentManager([a, b, c])
    manager.start()
    let ready = false
    const readyP = manager.ready().then(() => {
      ready = true
    })
    await a.ready()
    await c.ready()
    expect(ready).toBe(false)
    b.release()
    await readyP
    await manager.stop()
    expect(log).toEqual(['start a', 'start b', 'start c', 'stop c', 'stop b', 'stop a'])
  })

  it('surfaces a child’s irrecoverable error once at the root and stops the whole tree in reverse order', async () => {
    const log: string[] = []
    const surfaced: Error[] = []
    const root = createRootContext({ onIrrecoverable: (err) => surfaced.push(err) })
    const leafA = new Probe('leaf-a', log)
    const leafB = new Probe('leaf-b', log)
    const inner = new ComponentManager([leafA, leafB])
    const sibling = new Probe('sibling', log)
    const top = new ComponentManager([sibling, inner])
    top.start(root)
    await top.ready()

    const first = new Error('first fatal')
    leafB.ctx!.throwIrrecoverable(first)
    leafA.ctx!.throwIrrecoverable(new Error('second fatal'))

    expect(await root.irrecoverable()).toBe(first)
    await top.done()
    await Promise.all([leafA.done(), leafB.done(), sibling.done(), inner.done()])
    expect(surfaced).toEqual([first])
    expect(root.error).toBe(first)
    expect(root.signal.aborted).toBe(true)
    // the tree stops top-down in reverse start order: inner (leaf-b, leaf-a) before sibling
    const stops = log.filter((l) => l.startsWith('stop'))
    expect(stops).toHaveLength(3)
    expect(stops.indexOf('stop leaf-b')).toBeLessThan(stops.indexOf('stop leaf-a'))
    expect(stops.indexOf('stop leaf-a')).toBeLessThan(stops.indexOf('stop sibling'))
  })
})

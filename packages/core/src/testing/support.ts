import { type Channel, channel } from '../channel.js'
import type { Connection, ConnectionManager, ConnectionManagerEvents } from '../connection.js'
import { Identifier } from '../identifier.js'
import type { ComplianceOptions, ConnectionManagerFixture } from './fixture.js'

/** One framework-agnostic compliance case: `run` resolves when the case passes and rejects when it fails. */
export interface ComplianceCase {
  /** What the case proves, phrased as behaviour. */
  readonly name: string
  run(fixture: ConnectionManagerFixture, options: Required<ComplianceOptions>): Promise<void>
}

/** Thrown by a failing compliance case. */
export class ComplianceAssertionError extends Error {
  override name = 'ComplianceAssertionError'
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new ComplianceAssertionError(message)
}

export function errorNames(err: unknown): string[] {
  // the class chain's names, so a subclass counts (and errors from another copy of core too)
  const names: string[] = []
  let proto: unknown = err
  while (proto !== null && typeof proto === 'object') {
    const n = (proto as { name?: unknown }).name
    if (typeof n === 'string') names.push(n)
    const ctor = (proto as { constructor?: { name?: string } }).constructor
    if (ctor?.name !== undefined) names.push(ctor.name)
    proto = Object.getPrototypeOf(proto)
  }
  return names
}

export function assertErrorIs(err: unknown, accepted: readonly string[], what: string): void {
  const names = errorNames(err)
  assert(
    accepted.some((a) => names.includes(a)),
    `${what}: expected one of ${accepted.join(', ')}, got ${names[0] ?? String(err)}`,
  )
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Rejects when `signal` aborts first. */
export function bounded<T>(promise: Promise<T>, signal: AbortSignal, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new ComplianceAssertionError(`timed out waiting for ${what}`))
    if (signal.aborted) return onAbort()
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort)
        resolve(v)
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(e)
      },
    )
  })
}

/** The next incoming `'connection'` on `manager` from `remote` (subscribe before dialling). */
export function nextConnection(
  manager: ConnectionManager,
  remote: Identifier,
  signal: AbortSignal,
): Promise<Connection> {
  let off: (() => void) | undefined
  const p = new Promise<Connection>((resolve) => {
    const handler: ConnectionManagerEvents['connection'] = (conn) => {
      if (conn.remoteId.equals(remote)) resolve(conn)
    }
    off = manager.on('connection', handler)
  })
  return bounded(p, signal, `a connection from ${remote.toHex().slice(0, 8)}`).finally(() => off?.())
}

/** Collects messages on a connection; `waitFor(n)` resolves once `n` have arrived. */
export function collect(conn: Connection): {
  messages: Array<{ channel: Channel; bytes: Uint8Array }>
  waitFor(n: number, signal: AbortSignal): Promise<void>
} {
  const messages: Array<{ channel: Channel; bytes: Uint8Array }> = []
  const waiters: Array<{ n: number; resolve: () => void }> = []
  conn.on('message', (ch, bytes) => {
    messages.push({ channel: ch, bytes: bytes.slice() })
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (messages.length >= waiters[i]!.n) waiters.splice(i, 1)[0]!.resolve()
    }
  })
  return {
    messages,
    waitFor(n, signal) {
      if (messages.length >= n) return Promise.resolve()
      return bounded(new Promise<void>((resolve) => waiters.push({ n, resolve })), signal, `${n} messages`)
    },
  }
}

export function whenClosed(conn: Connection): {
  count: () => number
  closed: (signal: AbortSignal) => Promise<void>
} {
  let count = 0
  let resolve!: () => void
  const p = new Promise<void>((r) => {
    resolve = r
  })
  conn.on('close', () => {
    count++
    resolve()
  })
  return { count: () => count, closed: (signal) => bounded(p, signal, 'a close event') }
}

export const text = new TextEncoder()
export const TEST = channel('compliance')

/** Two started managers, `a` connected to `b`, with both sides' connection objects. */
export async function pair(
  fixture: ConnectionManagerFixture,
  signal: AbortSignal,
): Promise<{ a: ConnectionManager; b: ConnectionManager; ab: Connection; ba: Connection }> {
  const a = await fixture.create(Identifier.random())
  const b = await fixture.create(Identifier.random())
  const incoming = nextConnection(b, a.localId, signal)
  const ab = await a.connect(b.localId, { signal })
  const ba = await incoming
  return { a, b, ab, ba }
}

/**
 * A view of a started fixture manager that a `DefaultNetwork` can own: its lifecycle calls do nothing (the
 * fixture starts and stops the real manager), everything else is the manager's.
 */
export function borrowed(manager: ConnectionManager): ConnectionManager {
  return {
    get localId() {
      return manager.localId
    },
    get maxMessageSize() {
      return manager.maxMessageSize
    },
    connect: (id, options) => manager.connect(id, options),
    connections: () => manager.connections(),
    on: (event, fn) => manager.on(event, fn),
    start: () => {},
    ready: () => Promise.resolve(),
    done: () => manager.done(),
    stop: () => Promise.resolve(),
  }
}

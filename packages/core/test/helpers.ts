import type { Channel } from '../src/channel.js'
import type { ConnectionManager } from '../src/connection.js'
import { createNetwork, type DefaultNetwork, type DefaultNetworkOptions } from '../src/default-network.js'
import { Identifier } from '../src/identifier.js'
import { MemoryHub, type MemoryHubOptions } from '../src/memory/hub.js'
import type { Message } from '../src/message.js'
import type { MessageProcessor } from '../src/network.js'
import type { ConnectionManagerFixture } from '../src/testing/fixture.js'

export const text = new TextEncoder()
export const decodeText = new TextDecoder()

export function msg(s: string, metadata: Record<string, string> = {}): Message {
  return { payload: text.encode(s), metadata }
}

/** An identifier whose hex sorts by `n` (readable in failures). */
export function idOf(n: number): Identifier {
  return Identifier.fromHex(n.toString(16))
}

export interface Received {
  channel: Channel
  origin: Identifier
  message: Message
}

/** A processor that records what it gets and lets a test await the n-th arrival. */
export class RecordingProcessor implements MessageProcessor {
  readonly received: Received[] = []
  readonly #waiters: Array<{ n: number; resolve: () => void }> = []

  processIncomingMessage(channel: Channel, origin: Identifier, message: Message): void {
    this.received.push({ channel, origin, message })
    for (let i = this.#waiters.length - 1; i >= 0; i--) {
      if (this.received.length >= this.#waiters[i]!.n) this.#waiters.splice(i, 1)[0]!.resolve()
    }
  }

  /** Resolves once `n` messages have arrived; rejects when `signal` aborts first. */
  waitFor(n: number, signal: AbortSignal = AbortSignal.timeout(10_000)): Promise<void> {
    if (this.received.length >= n) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => reject(new Error(`only ${this.received.length} of ${n} messages arrived`))
      if (signal.aborted) return onAbort()
      signal.addEventListener('abort', onAbort, { once: true })
      this.#waiters.push({
        n,
        resolve: () => {
          signal.removeEventListener('abort', onAbort)
          resolve()
        },
      })
    })
  }

  texts(): string[] {
    return this.received.map((r) => decodeText.decode(r.message.payload))
  }
}

/** Started networks on one hub, stopped by `stopAll`. */
export async function startNetworks(
  hub: MemoryHub,
  ids: Identifier[],
  options: Partial<Omit<DefaultNetworkOptions, 'connectionManager'>> = {},
): Promise<DefaultNetwork[]> {
  const networks = ids.map((id) =>
    createNetwork({ ...options, connectionManager: hub.connectionManager(id) }),
  )
  for (const n of networks) n.start()
  await Promise.all(networks.map((n) => n.ready()))
  return networks
}

export async function stopAll(components: Array<{ stop(): Promise<void> }>): Promise<void> {
  await Promise.all(components.map((c) => c.stop()))
}

/** A compliance fixture over a fresh MemoryHub. */
export function memoryFixture(options: MemoryHubOptions = {}): ConnectionManagerFixture {
  const hub = new MemoryHub(options)
  const managers: ConnectionManager[] = []
  return {
    async create(id) {
      const m = hub.connectionManager(id)
      managers.push(m)
      m.start()
      await m.ready()
      return m
    },
    unknownId: () => Identifier.random(),
    async teardown() {
      await stopAll(managers)
    },
  }
}

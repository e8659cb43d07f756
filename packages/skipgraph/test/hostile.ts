import {
  channel,
  createNetwork,
  Identifier,
  type MemoryHub,
  MembershipVector,
  type Network,
} from '@skipmesh/core'
import { decodeWire, encodeWire } from '../src/wire-codec.js'
import { Kind, type LockReplyMsg, type WireMessage } from '../src/wire.js'

/** The identifier `delta` (±1) next to `id`. */
export function beside(id: Identifier, delta: 1 | -1): Identifier {
  const bytes = Uint8Array.from(id.bytes)
  for (let i = bytes.length - 1; i >= 0; i--) {
    const v = bytes[i]! + delta
    bytes[i] = (v + 256) % 256
    if (v >= 0 && v <= 255) break
  }
  return Identifier.fromBytes(bytes)
}

/** A node's entry with its derived membership vector (what honest nodes check). */
export function entryOf(id: Identifier): { id: Identifier; mv: MembershipVector } {
  return { id, mv: MembershipVector.fromIdentifier(id) }
}

/** A scripted neighbour's pointers, by level (a level with no entry: linked there, alone). */
export type ScriptedPointers = Array<{ left: Identifier | null; right: Identifier | null } | undefined>

/** A granted `LockReply` (also what a `Read` is answered with) of a node with vector `mv` and `pointers`, at `levels`. */
export function grantedReply(
  mv: MembershipVector,
  pointers: ScriptedPointers,
  levels: readonly number[],
): LockReplyMsg {
  return {
    kind: Kind.LockReply,
    granted: true,
    reason: 0,
    mv,
    levels: levels.map((level) => {
      const p = pointers[level]
      return {
        level,
        linked: true,
        left: p?.left == null ? null : entryOf(p.left),
        right: p?.right == null ? null : entryOf(p.right),
      }
    }),
  }
}

/** What a hostile peer answers to a request (undefined: an empty, malformed reply). */
export type HostileAnswer = (origin: Identifier, msg: WireMessage) => WireMessage | undefined

/**
 * A peer that speaks raw skip-graph messages: it registers on the skip-graph channel of its own network on a
 * `MemoryHub`, answers requests as `answer` says, and sends hand-made requests and messages.
 */
export class HostilePeer {
  readonly id: Identifier
  readonly #network: Network
  readonly #conduit: Awaited<ReturnType<Network['register']>>

  private constructor(id: Identifier, network: Network, conduit: Awaited<ReturnType<Network['register']>>) {
    this.id = id
    this.#network = network
    this.#conduit = conduit
  }

  static async create(hub: MemoryHub, id: Identifier, answer: HostileAnswer): Promise<HostilePeer> {
    const network = createNetwork({ connectionManager: hub.connectionManager(id) })
    network.start()
    await network.ready()
    const conduit = await network.register(channel('skipgraph'), {
      processIncomingMessage: () => {},
      processRequest: (_channel, origin, message) => {
        const decoded = decodeWire(message.payload)
        const reply = decoded.ok ? answer(origin, decoded.msg) : undefined
        return { payload: reply === undefined ? new Uint8Array(0) : encodeWire(reply), metadata: {} }
      },
    })
    return new HostilePeer(id, network, conduit)
  }

  /** Sends `msg` as a request and resolves with the decoded reply (undefined when malformed). */
  async request(dest: Identifier, msg: WireMessage): Promise<WireMessage | undefined> {
    const reply = await this.#conduit.request(
      dest,
      { payload: encodeWire(msg), metadata: {} },
      { timeoutMs: 5000 },
    )
    const decoded = decodeWire(reply.payload)
    return decoded.ok ? decoded.msg : undefined
  }

  /** Sends `msg` as a plain message. */
  async send(dest: Identifier, msg: WireMessage): Promise<void> {
    await this.#conduit.send(dest, { payload: encodeWire(msg), metadata: {} })
  }

  async stop(): Promise<void> {
    await this.#network.stop()
  }
}

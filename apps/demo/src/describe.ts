/**
 * The `demo.graph` describe channel: every node answers a request on it with its lookup table as JSON. A tab
 * asks for a table only over a link that exists: one of its own nodes asks a node it is connected to (or a
 * neighbour of it), and a node farther away is reached through the overlay, each relay forwarding the request
 * to the next node of a path only when that node is one of its own neighbours or already connected to it.
 * Nobody dials every node it knows.
 *
 * @module
 */
import { type Conduit, Identifier, channel } from '@skipmesh/core'
import { DescribeFailedError, NotConnectedError } from './errors.js'
import { type NodeTable, parseTable } from './graph.js'
import type { LocalNode } from './node.js'

/** The channel on which tabs ask nodes for their lookup tables. */
export const GRAPH_CHANNEL = channel('demo.graph')

/** How long a describe request waits for its reply (the whole path, relays included). */
export const DESCRIBE_TIMEOUT_MS = 3000
/** What each relay takes off the remaining time before it forwards, so its own wait ends first. */
const RELAY_MARGIN_MS = 150
/** The longest relay path accepted (a skip graph of n nodes needs about log2 n). */
export const MAX_RELAY_HOPS = 12
/** The largest table a reply may carry, bytes. */
const MAX_FRAME = 64 * 1024
const HEX64 = /^[0-9a-f]{64}$/

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** The request: the nodes after the receiver, in order (empty: the receiver's own table), and the time left. */
interface DescribeRequest {
  path: string[]
  ms: number
}

function parseRequest(payload: Uint8Array): DescribeRequest | undefined {
  if (payload.length === 0) return { path: [], ms: DESCRIBE_TIMEOUT_MS }
  try {
    const v = JSON.parse(decoder.decode(payload)) as Record<string, unknown>
    if (!Array.isArray(v.path) || v.path.length > MAX_RELAY_HOPS) return undefined
    if (!v.path.every((p): p is string => typeof p === 'string' && HEX64.test(p))) return undefined
    const ms = typeof v.ms === 'number' && Number.isFinite(v.ms) ? v.ms : DESCRIBE_TIMEOUT_MS
    return { path: v.path, ms: Math.min(DESCRIBE_TIMEOUT_MS, Math.max(0, ms)) }
  } catch {
    return undefined
  }
}

function encodeRequest(path: readonly string[], ms: number): Uint8Array {
  return path.length === 0 ? new Uint8Array(0) : encoder.encode(JSON.stringify({ path, ms }))
}

/** Whether `node` may forward to `next` without dialling a stranger: a neighbour, or already connected. */
function linked(node: LocalNode, next: string): boolean {
  if (node.connections().includes(next)) return true
  return node.table().some((l) => l.left === next || l.right === next)
}

/**
 * Registers `node`'s describe processor. A request with an empty path is answered with `node.describe(tab)`;
 * otherwise the request is forwarded to the path's next node if it is linked to `node` (see {@link linked}),
 * and its reply passed back unchanged (the asking tab checks it). The channel carries nothing but requests and
 * replies, so every plain message on it is a bad frame (`onBadFrame`).
 * @throws (to the requester, by name) `NotConnectedError` when the next node is not linked, `DescribeFailedError`
 * on a malformed request, the forwarding request's errors.
 */
export async function registerDescribe(
  node: LocalNode,
  tab: string,
  onBadFrame: () => void,
): Promise<Conduit> {
  let conduit: Conduit | undefined
  conduit = await node.network.register(GRAPH_CHANNEL, {
    processIncomingMessage: () => onBadFrame(),
    processRequest: async (_channel, _origin, message) => {
      const req = parseRequest(message.payload)
      if (req === undefined) {
        onBadFrame()
        throw new DescribeFailedError('malformed describe request')
      }
      const [next, ...rest] = req.path
      if (next === undefined) {
        return { payload: encoder.encode(JSON.stringify(node.describe(tab))), metadata: {} }
      }
      if (conduit === undefined || !linked(node, next)) throw new NotConnectedError(next)
      const ms = req.ms - RELAY_MARGIN_MS
      if (ms <= 0) throw new DescribeFailedError('no time left to relay')
      const reply = await conduit.request(
        Identifier.fromHex(next),
        { payload: encodeRequest(rest, ms - RELAY_MARGIN_MS), metadata: {} },
        { timeoutMs: ms },
      )
      return { payload: reply.payload, metadata: {} }
    },
  })
  return conduit
}

/**
 * Asks for the lookup table of the last node of `path` over `conduit` (a local node's conduit on
 * {@link GRAPH_CHANNEL}): the request goes to `path[0]`, which relays it along the rest of the path.
 * @throws {DescribeFailedError} when the reply is not a valid table of the path's last node (also counted by
 * `onBadFrame`), or the path is empty or too long.
 * @throws the errors of `Conduit.request` (`RequestTimeoutError` after {@link DESCRIBE_TIMEOUT_MS};
 * `RemoteRequestError` when a relay could not forward).
 */
export async function requestTable(
  conduit: Conduit,
  path: readonly string[],
  options: { signal?: AbortSignal },
  onBadFrame: () => void,
): Promise<NodeTable> {
  const [first, ...rest] = path
  const target = path.at(-1)
  if (first === undefined || target === undefined || rest.length > MAX_RELAY_HOPS)
    throw new DescribeFailedError('bad describe path')
  const payload = encodeRequest(rest, DESCRIBE_TIMEOUT_MS - RELAY_MARGIN_MS)
  const reply = await conduit.request(
    Identifier.fromHex(first),
    { payload, metadata: {} },
    options.signal === undefined
      ? { timeoutMs: DESCRIBE_TIMEOUT_MS }
      : { timeoutMs: DESCRIBE_TIMEOUT_MS, signal: options.signal },
  )
  const table = reply.payload.length <= MAX_FRAME ? parseReply(reply.payload) : undefined
  if (table === undefined || table.id !== target) {
    onBadFrame()
    throw new DescribeFailedError(`bad table from ${target.slice(0, 6)}`)
  }
  return table
}

function parseReply(payload: Uint8Array): NodeTable | undefined {
  try {
    return parseTable(JSON.parse(decoder.decode(payload)))
  } catch {
    return undefined
  }
}

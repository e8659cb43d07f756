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
/** The largest reply with the tables of a whole tab, bytes (128 nodes of about 2 KiB each, with room to spare). */
const MAX_TAB_FRAME = 1024 * 1024
/** The most tables a tab's reply may carry. */
const MAX_TAB_TABLES = 512
const HEX64 = /^[0-9a-f]{64}$/

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/**
 * The request: the nodes after the receiver, in order (empty: the receiver answers), the time left, and whether
 * the answer is the tables of every node of the answering node's tab (else its own table).
 */
interface DescribeRequest {
  path: string[]
  ms: number
  tab: boolean
}

function parseRequest(payload: Uint8Array): DescribeRequest | undefined {
  if (payload.length === 0) return { path: [], ms: DESCRIBE_TIMEOUT_MS, tab: false }
  try {
    const v = JSON.parse(decoder.decode(payload)) as Record<string, unknown>
    if (!Array.isArray(v.path) || v.path.length > MAX_RELAY_HOPS) return undefined
    if (!v.path.every((p): p is string => typeof p === 'string' && HEX64.test(p))) return undefined
    const ms = typeof v.ms === 'number' && Number.isFinite(v.ms) ? v.ms : DESCRIBE_TIMEOUT_MS
    return { path: v.path, ms: Math.min(DESCRIBE_TIMEOUT_MS, Math.max(0, ms)), tab: v.tab === true }
  } catch {
    return undefined
  }
}

function encodeRequest(path: readonly string[], ms: number, tab: boolean): Uint8Array {
  if (path.length === 0 && !tab) return new Uint8Array(0)
  return encoder.encode(JSON.stringify(tab ? { path, ms, tab } : { path, ms }))
}

/** Whether `node` may forward to `next` without dialling a stranger: a neighbour, or already connected. */
function linked(node: LocalNode, next: string): boolean {
  if (node.connections().includes(next)) return true
  return node.table().some((l) => l.left === next || l.right === next)
}

/**
 * Registers `node`'s describe processor. A request with an empty path is answered with `node.describe(tab)`, or
 * when it asks for the whole tab with `tabTables()` (the tables of every node of this tab, `node` among them);
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
  tabTables: () => NodeTable[],
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
        const answer = req.tab ? tabTables() : node.describe(tab)
        return { payload: encoder.encode(JSON.stringify(answer)), metadata: {} }
      }
      if (conduit === undefined || !linked(node, next)) throw new NotConnectedError(next)
      const ms = req.ms - RELAY_MARGIN_MS
      if (ms <= 0) throw new DescribeFailedError('no time left to relay')
      const reply = await conduit.request(
        Identifier.fromHex(next),
        { payload: encodeRequest(rest, ms - RELAY_MARGIN_MS, req.tab), metadata: {} },
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
  const target = path.at(-1)
  const payload = await describeRequest(conduit, path, false, options)
  const table = payload.length <= MAX_FRAME ? parseReply(payload) : undefined
  if (table === undefined || table.id !== target) {
    onBadFrame()
    throw new DescribeFailedError(`bad table from ${target?.slice(0, 6)}`)
  }
  return table
}

/**
 * Asks the last node of `path` for the lookup tables of every node of its tab (one request instead of one per
 * node: a picture of n nodes in k tabs costs about k requests per round, not n), along `path` as
 * {@link requestTable} does.
 * @throws {DescribeFailedError} when the reply is not a list of valid tables of one tab, each node once, with the
 * path's last node among them (also counted by `onBadFrame`), or the path is empty or too long.
 * @throws the errors of `Conduit.request`, as {@link requestTable}.
 */
export async function requestTabTables(
  conduit: Conduit,
  path: readonly string[],
  options: { signal?: AbortSignal },
  onBadFrame: () => void,
): Promise<NodeTable[]> {
  const target = path.at(-1)
  const payload = await describeRequest(conduit, path, true, options)
  const tables = payload.length <= MAX_TAB_FRAME ? parseTabReply(payload) : undefined
  if (tables === undefined || !tables.some((t) => t.id === target)) {
    onBadFrame()
    throw new DescribeFailedError(`bad tab tables from ${target?.slice(0, 6)}`)
  }
  return tables
}

async function describeRequest(
  conduit: Conduit,
  path: readonly string[],
  tab: boolean,
  options: { signal?: AbortSignal },
): Promise<Uint8Array> {
  const [first, ...rest] = path
  if (first === undefined || rest.length > MAX_RELAY_HOPS) throw new DescribeFailedError('bad describe path')
  const payload = encodeRequest(rest, DESCRIBE_TIMEOUT_MS - RELAY_MARGIN_MS, tab)
  const reply = await conduit.request(
    Identifier.fromHex(first),
    { payload, metadata: {} },
    options.signal === undefined
      ? { timeoutMs: DESCRIBE_TIMEOUT_MS }
      : { timeoutMs: DESCRIBE_TIMEOUT_MS, signal: options.signal },
  )
  return reply.payload
}

function parseReply(payload: Uint8Array): NodeTable | undefined {
  try {
    return parseTable(JSON.parse(decoder.decode(payload)))
  } catch {
    return undefined
  }
}

/** A tab's tables: a list of valid tables of one tab, each node once; `undefined` when anything is off. */
function parseTabReply(payload: Uint8Array): NodeTable[] | undefined {
  let raw: unknown
  try {
    raw = JSON.parse(decoder.decode(payload))
  } catch {
    return undefined
  }
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_TAB_TABLES) return undefined
  const out: NodeTable[] = []
  const ids = new Set<string>()
  for (const v of raw as unknown[]) {
    const t = parseTable(v)
    if (t === undefined || ids.has(t.id) || (out.length > 0 && t.tab !== out[0]!.tab)) return undefined
    ids.add(t.id)
    out.push(t)
  }
  return out
}

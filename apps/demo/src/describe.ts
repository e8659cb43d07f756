/**
 * The `demo.graph` describe channel: every node answers a request on it with its lookup table as JSON; a tab
 * asks a node for its table through one of its own nodes, with core's request/response.
 *
 * @module
 */
import { type Conduit, type Identifier, channel } from '@skipmesh/core'
import { DescribeFailedError } from './errors.js'
import { type NodeTable, parseTable } from './graph.js'
import type { LocalNode } from './node.js'

/** The channel on which tabs ask nodes for their lookup tables. */
export const GRAPH_CHANNEL = channel('demo.graph')

/** How long a describe request waits for its reply. */
export const DESCRIBE_TIMEOUT_MS = 3000
/** The largest table a reply may carry, bytes. */
const MAX_FRAME = 64 * 1024

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/**
 * Registers `node`'s describe processor: a request is answered with `node.describe(tab)`. The channel
 * carries nothing but requests and replies, so every plain message on it is a bad frame (`onBadFrame`).
 */
export function registerDescribe(node: LocalNode, tab: string, onBadFrame: () => void): Promise<Conduit> {
  return node.network.register(GRAPH_CHANNEL, {
    processIncomingMessage: () => onBadFrame(),
    processRequest: () => ({
      payload: encoder.encode(JSON.stringify(node.describe(tab))),
      metadata: {},
    }),
  })
}

/**
 * Asks `target` for its lookup table over `conduit` (a node's conduit on {@link GRAPH_CHANNEL}).
 * @throws {DescribeFailedError} when the reply is not a valid table of `target` (also counted by `onBadFrame`).
 * @throws the errors of `Conduit.request` (`RequestTimeoutError` after {@link DESCRIBE_TIMEOUT_MS}).
 */
export async function requestTable(
  conduit: Conduit,
  target: Identifier,
  options: { signal?: AbortSignal },
  onBadFrame: () => void,
): Promise<NodeTable> {
  const reply = await conduit.request(
    target,
    { payload: new Uint8Array(0), metadata: {} },
    options.signal === undefined
      ? { timeoutMs: DESCRIBE_TIMEOUT_MS }
      : { timeoutMs: DESCRIBE_TIMEOUT_MS, signal: options.signal },
  )
  const table = reply.payload.length <= MAX_FRAME ? parseReply(reply.payload) : undefined
  if (table === undefined || table.id !== target.toHex()) {
    onBadFrame()
    throw new DescribeFailedError(`bad table from ${target.toHex().slice(0, 6)}`)
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

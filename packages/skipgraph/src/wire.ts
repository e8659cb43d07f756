/**
 * The skip-graph wire protocol: every message is a msgpack array `[kind, ...fields]` carried as the payload of
 * a core `Message`. `Lock`, `Read` and `Apply` travel as core requests (`Conduit.request`), answered by
 * `LockReply` and `ApplyAck` replies that core matches to them; `Search` (one hop of a search) travels as a core
 * request too, answered by `SearchResult` or `SearchFail` (the search's answer from there on, which so goes back
 * along the path); the others are plain messages.
 * The codec is `wire-codec.ts`.
 *
 * @module
 */
import { IDENTIFIER_LENGTH, type Identifier, type MembershipVector } from '@skipmesh/core'
import { MAX_LEVEL } from './lookup-table.js'

/** Message kinds. */
export const Kind = {
  Search: 1,
  SearchResult: 2,
  SearchFail: 3,
  Lock: 4,
  LockReply: 5,
  Apply: 6,
  ApplyAck: 7,
  Release: 8,
  Read: 9,
  Merge: 10,
} as const
/** The name of a message kind (the keys of `SkipGraphMetrics.sentByKind`). */
export type KindName = keyof typeof Kind

/** Longest path a search may record; a longer one is treated as malformed (a routing loop or an attack). */
export const MAX_HOPS = 1024
/** Most levels one lock request may name. */
export const MAX_LOCK_LEVELS = MAX_LEVEL + 1
/** Most table writes one apply may carry. */
export const MAX_WRITES = 2 * (MAX_LEVEL + 1)

/** Longest a node waits for the answer of a search it forwarded, whatever budget the search carries (ms). */
export const MAX_SEARCH_BUDGET_MS = 120_000

/** Why a search could not answer (carried by {@link Kind.SearchFail}). */
export const FailReason = { Unreachable: 1, Stopped: 2 } as const

/** Why a lock was refused. */
export const DenyReason = { Locked: 1, Gone: 2, NotLinked: 3 } as const

/** Bytes per hop in a search path: the 32-byte identifier, then the level (one byte). */
export const HOP_BYTES = 33

/**
 * A search path as it travels: {@link HOP_BYTES} per hop (identifier, then level), flat, so that forwarding and
 * validating a search allocate nothing per hop.
 */
export type WireHops = Uint8Array

/** The number of hops in a path. */
export function hopCount(hops: WireHops): number {
  return hops.length / HOP_BYTES
}

/** A copy of `hops` with one more hop. */
export function appendHop(hops: WireHops, node: Uint8Array, level: number): WireHops {
  const out = new Uint8Array(hops.length + HOP_BYTES)
  out.set(hops)
  out.set(node, hops.length)
  out[hops.length + IDENTIFIER_LENGTH] = level
  return out
}

/** Hop `i`: its identifier bytes (a view) and level. */
export function hopAt(hops: WireHops, i: number): { node: Uint8Array; level: number } {
  const at = i * HOP_BYTES
  return { node: hops.subarray(at, at + IDENTIFIER_LENGTH), level: hops[at + IDENTIFIER_LENGTH]! }
}

/** A neighbour as carried in lock replies and applies. */
export interface WireNeighbor {
  readonly id: Identifier
  readonly mv: MembershipVector
}

/** What a locked node reports about one level. */
export interface WireLevelState {
  readonly level: number
  /** Whether the node is linked at this level (has joined it). */
  readonly linked: boolean
  readonly left: WireNeighbor | null
  readonly right: WireNeighbor | null
}

/** One hop of a search: a core request to the next node, whose reply is the search's answer from there on. */
export interface SearchMsg {
  readonly kind: typeof Kind.Search
  /** The search's identifier, the same on every hop (for `search:hop` events only: answers never match it). */
  readonly nonce: string
  /** Drawn by the sender for this hop: the same when it sends the hop again; the answer echoes it. */
  readonly hop: string
  /** Milliseconds the sender waits for the answer at most; the receiver gives up after as long. */
  readonly budget: number
  readonly origin: Identifier
  readonly target: Identifier
  /** Highest level the receiver may use. */
  readonly level: number
  /** 1: toward larger identifiers, 0: toward smaller. */
  readonly dir: 0 | 1
  /** 1 when this is the reverse leg of a search routed around a dead neighbour (must end exactly on target). */
  readonly reverse: 0 | 1
  readonly hops: WireHops
}
/** The reply to a {@link SearchMsg} (its `hop` as `nonce`): where the search ended, and the path to there. */
export interface SearchResultMsg {
  readonly kind: typeof Kind.SearchResult
  readonly nonce: string
  readonly found: boolean
  readonly hops: WireHops
}
/** The reply to a {@link SearchMsg} (its `hop` as `nonce`) whose search could not be completed. */
export interface SearchFailMsg {
  readonly kind: typeof Kind.SearchFail
  readonly nonce: string
  readonly reason: number
}
export interface LockMsg {
  readonly kind: typeof Kind.Lock
  readonly txn: string
  /** The levels to lock, or 'all' (a leaving node's own lock). */
  readonly levels: readonly number[]
}
/**
 * Reads the state of some levels without locking them (the walks of the join protocol, and probes). A probe also
 * carries the sender's `view` of the receiver, so that one probe serves both nodes of a neighbour pair.
 */
export interface ReadMsg {
  readonly kind: typeof Kind.Read
  readonly levels: readonly number[]
  /**
   * Present on a neighbour probe (a third field on the wire; a Read without it is read as before): every level
   * the sender is linked at where the receiver is its neighbour (at the level, on the side the two identifiers'
   * order gives). The receiver checks its own pointers at the sender against it as its own probe would have, and
   * need not probe the sender for one probe interval.
   */
  readonly view?: readonly number[]
}
/** The answer to a {@link LockMsg} or a {@link ReadMsg}: whether granted, and the state of the levels. */
export interface LockReplyMsg {
  readonly kind: typeof Kind.LockReply
  readonly granted: boolean
  readonly reason: number
  readonly mv: MembershipVector
  readonly levels: readonly WireLevelState[]
}
export interface ApplyWrite {
  readonly level: number
  readonly side: 'left' | 'right'
  readonly entry: WireNeighbor | null
}
export interface ApplyMsg {
  readonly kind: typeof Kind.Apply
  readonly txn: string
  readonly writes: readonly ApplyWrite[]
}
export interface ApplyAckMsg {
  readonly kind: typeof Kind.ApplyAck
  readonly ok: boolean
}
export interface ReleaseMsg {
  readonly kind: typeof Kind.Release
  readonly txn: string
}
/** A merge hint (a plain message): "check me, I am in another graph than yours". It claims nothing else. */
export interface MergeMsg {
  readonly kind: typeof Kind.Merge
}

/** The messages that travel as core requests. */
export type RequestMsg = LockMsg | ReadMsg | ApplyMsg | SearchMsg
/** The reply a request of type `M` gets. */
export type ReplyTo<M extends RequestMsg> = M extends ApplyMsg
  ? ApplyAckMsg
  : M extends SearchMsg
    ? SearchResultMsg | SearchFailMsg
    : LockReplyMsg

/** Whether `reply` is of a kind that answers `msg`. */
export function isReplyTo<M extends RequestMsg>(msg: M, reply: WireMessage): reply is ReplyTo<M> {
  switch (msg.kind) {
    case Kind.Apply:
      return reply.kind === Kind.ApplyAck
    case Kind.Search:
      return reply.kind === Kind.SearchResult || reply.kind === Kind.SearchFail
    default:
      return reply.kind === Kind.LockReply
  }
}

export type WireMessage =
  | SearchMsg
  | SearchResultMsg
  | SearchFailMsg
  | LockMsg
  | ReadMsg
  | LockReplyMsg
  | ApplyMsg
  | ApplyAckMsg
  | ReleaseMsg
  | MergeMsg

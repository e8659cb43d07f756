/**
 * The skip-graph wire protocol: every message is a msgpack array `[kind, ...fields]` carried as the payload of
 * a core `Message`. `Lock`, `Read` and `Apply` travel as core requests (`Conduit.request`), answered by
 * `LockReply` and `ApplyAck` replies that core matches to them; `Search` (one hop of a search) travels as a core
 * request too, answered by `SearchResult` or `SearchFail` (the search's answer from there on, which so goes back
 * along the path); the others are plain messages.
 * {@link decodeWire} validates untrusted bytes completely (kinds, field types, identifier and membership-vector
 * lengths, level range, nonce format, list sizes) and never throws.
 *
 * @module
 */
import { IDENTIFIER_LENGTH, Identifier, MembershipVector } from '@skipmesh/core'
import { Packr } from 'msgpackr'
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

/** Nonces are 32 lower-case hex digits (128 bits). */
const NONCE = /^[0-9a-f]{32}$/

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
/** Reads the state of some levels without locking them (the walks of the join protocol). */
export interface ReadMsg {
  readonly kind: typeof Kind.Read
  readonly levels: readonly number[]
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

/** The outcome of decoding untrusted bytes. */
export type DecodeOutcome = { ok: true; msg: WireMessage } | { ok: false; reason: string }

const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' })

function neighborOut(n: WireNeighbor | null): [Uint8Array, Uint8Array] | null {
  return n === null ? null : [n.id.bytes, n.mv.bytes]
}

/** Encodes a message. */
export function encodeWire(msg: WireMessage): Uint8Array {
  let arr: unknown[]
  switch (msg.kind) {
    case Kind.Search:
      arr = [
        msg.kind,
        msg.nonce,
        msg.hop,
        msg.budget,
        msg.origin.bytes,
        msg.target.bytes,
        msg.level,
        msg.dir,
        msg.reverse,
        msg.hops,
      ]
      break
    case Kind.SearchResult:
      arr = [msg.kind, msg.nonce, msg.found, msg.hops]
      break
    case Kind.SearchFail:
      arr = [msg.kind, msg.nonce, msg.reason]
      break
    case Kind.Lock:
      arr = [msg.kind, msg.txn, msg.levels]
      break
    case Kind.Read:
      arr = [msg.kind, msg.levels]
      break
    case Kind.LockReply:
      arr = [
        msg.kind,
        msg.granted,
        msg.reason,
        msg.mv.bytes,
        msg.levels.map((s) => [s.level, s.linked, neighborOut(s.left), neighborOut(s.right)]),
      ]
      break
    case Kind.Apply:
      arr = [
        msg.kind,
        msg.txn,
        msg.writes.map((w) => [w.level, w.side === 'left' ? 0 : 1, neighborOut(w.entry)]),
      ]
      break
    case Kind.ApplyAck:
      arr = [msg.kind, msg.ok]
      break
    case Kind.Release:
      arr = [msg.kind, msg.txn]
      break
    case Kind.Merge:
      arr = [msg.kind]
      break
  }
  return packr.pack(arr)
}

class Invalid extends Error {}

function fail(reason: string): never {
  throw new Invalid(reason)
}

function nonce(v: unknown, what: string): string {
  if (typeof v !== 'string' || !NONCE.test(v)) fail(`${what}: bad nonce`)
  return v
}

function level(v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_LEVEL) fail('level out of range')
  return v
}

function bytes32(v: unknown, what: string): Uint8Array {
  if (!(v instanceof Uint8Array) || v.length !== IDENTIFIER_LENGTH)
    fail(`${what}: not ${IDENTIFIER_LENGTH} bytes`)
  return v
}

function bool(v: unknown, what: string): boolean {
  if (typeof v !== 'boolean') fail(`${what}: not a boolean`)
  return v
}

function bit(v: unknown, what: string): 0 | 1 {
  if (v !== 0 && v !== 1) fail(`${what}: not 0 or 1`)
  return v
}

function array(v: unknown, max: number, what: string): unknown[] {
  if (!Array.isArray(v) || v.length > max) fail(`${what}: not an array of at most ${max}`)
  return v
}

function tuple(v: unknown, length: number, what: string): unknown[] {
  if (!Array.isArray(v) || v.length !== length) fail(`${what}: not a ${length}-tuple`)
  return v
}

function hops(v: unknown): WireHops {
  if (!(v instanceof Uint8Array) || v.length % HOP_BYTES !== 0 || v.length > MAX_HOPS * HOP_BYTES) {
    fail('hops: not a path of at most 1024 hops')
  }
  // every level byte is within 0–255 = MAX_LEVEL by construction
  return v
}

function neighbor(v: unknown): WireNeighbor | null {
  if (v === null) return null
  const t = tuple(v, 2, 'neighbor')
  return {
    id: Identifier.fromBytes(bytes32(t[0], 'neighbor id')),
    mv: MembershipVector.fromBytes(bytes32(t[1], 'neighbor mv')),
  }
}

function parse(a: unknown[]): WireMessage {
  switch (a[0]) {
    case Kind.Search: {
      if (a.length !== 10) fail('search: arity')
      const budget = a[3]
      if (typeof budget !== 'number' || !Number.isInteger(budget) || budget < 0 || budget > 0xffffffff)
        fail('search: budget')
      return {
        kind: Kind.Search,
        nonce: nonce(a[1], 'search'),
        hop: nonce(a[2], 'search hop'),
        budget,
        origin: Identifier.fromBytes(bytes32(a[4], 'origin')),
        target: Identifier.fromBytes(bytes32(a[5], 'target')),
        level: level(a[6]),
        dir: bit(a[7], 'dir'),
        reverse: bit(a[8], 'reverse'),
        hops: hops(a[9]),
      }
    }
    case Kind.SearchResult:
      if (a.length !== 4) fail('search result: arity')
      return {
        kind: Kind.SearchResult,
        nonce: nonce(a[1], 'result'),
        found: bool(a[2], 'found'),
        hops: hops(a[3]),
      }
    case Kind.SearchFail: {
      if (a.length !== 3) fail('search fail: arity')
      const reason = a[2]
      if (reason !== FailReason.Unreachable && reason !== FailReason.Stopped) fail('search fail: reason')
      return { kind: Kind.SearchFail, nonce: nonce(a[1], 'fail'), reason }
    }
    case Kind.Lock: {
      if (a.length !== 3) fail('lock: arity')
      const levels = array(a[2], MAX_LOCK_LEVELS, 'lock levels')
      if (levels.length === 0) fail('lock: no levels')
      return { kind: Kind.Lock, txn: nonce(a[1], 'lock txn'), levels: levels.map(level) }
    }
    case Kind.Read: {
      if (a.length !== 2) fail('read: arity')
      const levels = array(a[1], MAX_LOCK_LEVELS, 'read levels')
      if (levels.length === 0) fail('read: no levels')
      return { kind: Kind.Read, levels: levels.map(level) }
    }
    case Kind.LockReply: {
      if (a.length !== 5) fail('lock reply: arity')
      const reason = a[2]
      if (typeof reason !== 'number' || !Number.isInteger(reason) || reason < 0 || reason > 3)
        fail('lock reply: reason')
      const states = array(a[4], MAX_LOCK_LEVELS, 'lock reply levels').map((s): WireLevelState => {
        const t = tuple(s, 4, 'level state')
        return {
          level: level(t[0]),
          linked: bool(t[1], 'linked'),
          left: neighbor(t[2]),
          right: neighbor(t[3]),
        }
      })
      return {
        kind: Kind.LockReply,
        granted: bool(a[1], 'granted'),
        reason,
        mv: MembershipVector.fromBytes(bytes32(a[3], 'mv')),
        levels: states,
      }
    }
    case Kind.Apply: {
      if (a.length !== 3) fail('apply: arity')
      const writes = array(a[2], MAX_WRITES, 'writes').map((w): ApplyWrite => {
        const t = tuple(w, 3, 'write')
        return { level: level(t[0]), side: bit(t[1], 'side') === 0 ? 'left' : 'right', entry: neighbor(t[2]) }
      })
      return { kind: Kind.Apply, txn: nonce(a[1], 'apply txn'), writes }
    }
    case Kind.ApplyAck:
      if (a.length !== 2) fail('apply ack: arity')
      return { kind: Kind.ApplyAck, ok: bool(a[1], 'ok') }
    case Kind.Release:
      if (a.length !== 2) fail('release: arity')
      return { kind: Kind.Release, txn: nonce(a[1], 'release txn') }
    case Kind.Merge:
      if (a.length !== 1) fail('merge: arity')
      return { kind: Kind.Merge }
    default:
      return fail('unknown kind')
  }
}

/** Decodes and validates untrusted bytes. Never throws. */
export function decodeWire(bytes: Uint8Array): DecodeOutcome {
  let value: unknown
  try {
    value = packr.unpack(bytes)
  } catch {
    return { ok: false, reason: 'not msgpack' }
  }
  if (!Array.isArray(value) || value.length < 1) return { ok: false, reason: 'not an array' }
  try {
    return { ok: true, msg: parse(value) }
  } catch (err) {
    return { ok: false, reason: err instanceof Invalid ? err.message : 'invalid' }
  }
}

/**
 * The codec of the wire protocol (`wire.ts`): {@link encodeWire} writes a message as a msgpack array
 * `[kind, ...fields]`; {@link decodeWire} validates untrusted bytes completely (kinds, field types, identifier and
 * membership-vector lengths, level range, nonce format, list sizes) and never throws.
 *
 * @module
 */
import { IDENTIFIER_LENGTH, Identifier, MembershipVector } from '@skipmesh/core'
import { Packr } from 'msgpackr'
import { MAX_LEVEL } from './lookup-table.js'
import {
  type ApplyWrite,
  FailReason,
  HOP_BYTES,
  Kind,
  MAX_HOPS,
  MAX_LOCK_LEVELS,
  MAX_WRITES,
  type WireHops,
  type WireLevelState,
  type WireMessage,
  type WireNeighbor,
} from './wire.js'

/** Nonces are 32 lower-case hex digits (128 bits). */
const NONCE = /^[0-9a-f]{32}$/

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
      arr = msg.view === undefined ? [msg.kind, msg.levels] : [msg.kind, msg.levels, msg.view]
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
      // [kind, levels] or, from a probe, [kind, levels, view]
      if (a.length !== 2 && a.length !== 3) fail('read: arity')
      const levels = array(a[1], MAX_LOCK_LEVELS, 'read levels')
      if (levels.length === 0) fail('read: no levels')
      if (a.length === 2) return { kind: Kind.Read, levels: levels.map(level) }
      const view = array(a[2], MAX_LOCK_LEVELS, 'read view').map(level)
      return { kind: Kind.Read, levels: levels.map(level), view }
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

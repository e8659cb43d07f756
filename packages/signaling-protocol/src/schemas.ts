/**
 * valibot schemas of every payload of the protocol: the server validates each request on arrival with them, and
 * clients validate what the server pushes and answers.
 *
 * @module
 */
import * as v from 'valibot'
import {
  type ClientEventName,
  MAX_PEERS_PAGE,
  MAX_SIGNAL_DATA_DEPTH,
  MAX_SIGNAL_DATA_SIZE,
  ROOM_PATTERN,
  SESSION_PATTERN,
  SIGNAL_ERROR_CODES,
  type SignalData,
} from './events.js'

const HEX64 = /^[0-9a-f]{64}$/
const HEX128 = /^[0-9a-f]{128}$/

/** Ids: 64 lowercase hex digits. */
export const IdSchema = v.pipe(v.string(), v.regex(HEX64, 'must be 64 lowercase hex digits'))
/** Rooms: see {@link ROOM_PATTERN}. */
export const RoomSchema = v.pipe(
  v.string(),
  v.regex(ROOM_PATTERN, 'must be 1-64 characters of [A-Za-z0-9._-]'),
)
/** Session ids: see {@link SESSION_PATTERN}. */
export const SessionSchema = v.pipe(
  v.string(),
  v.regex(SESSION_PATTERN, 'must be 1-64 characters of [A-Za-z0-9._:-]'),
)

/**
 * Size of `value` serialized as JSON (approximate: string escapes are not counted), or -1 when `value` is not a
 * plain JSON value (binary, class instances, functions, non-finite numbers, cycles) or nests deeper than
 * `maxDepth`. Stops early once `limit` is exceeded (returns a value > limit).
 */
export function jsonSize(
  value: unknown,
  maxDepth = MAX_SIGNAL_DATA_DEPTH,
  limit = MAX_SIGNAL_DATA_SIZE,
): number {
  let total = 0
  const walk = (x: unknown, depth: number): boolean => {
    if (total > limit) return true
    if (x === null) {
      total += 4
      return true
    }
    switch (typeof x) {
      case 'string':
        total += x.length + 2
        return true
      case 'number':
        if (!Number.isFinite(x)) return false
        total += String(x).length
        return true
      case 'boolean':
        total += 5
        return true
      case 'object': {
        if (depth >= maxDepth) return false
        if (Array.isArray(x)) {
          total += 2
          for (const item of x) {
            total += 1
            if (!walk(item, depth + 1)) return false
            if (total > limit) return true
          }
          return true
        }
        const proto = Object.getPrototypeOf(x) as unknown
        if (proto !== Object.prototype && proto !== null) return false
        total += 2
        for (const [k, item] of Object.entries(x as Record<string, unknown>)) {
          total += k.length + 4
          if (!walk(item, depth + 1)) return false
          if (total > limit) return true
        }
        return true
      }
      default:
        return false
    }
  }
  return walk(value, 0) ? total : -1
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (typeof x !== 'object' || x === null) return false
  const proto = Object.getPrototypeOf(x) as unknown
  return proto === Object.prototype || proto === null
}

/** Signal data: a plain JSON object within the size and depth limits. */
export const SignalDataSchema = v.pipe(
  v.custom<SignalData>((x) => isPlainObject(x), 'data must be a JSON object'),
  v.check((x) => {
    const size = jsonSize(x)
    return size >= 0 && size <= MAX_SIGNAL_DATA_SIZE
  }, `data must be plain JSON, at most ${MAX_SIGNAL_DATA_SIZE} bytes and ${MAX_SIGNAL_DATA_DEPTH} levels deep`),
)

/** A payload object: a plain object (no array, binary or class instance) with `entries` (unknown keys stripped). */
export function payloadSchema<const TEntries extends v.ObjectEntries>(entries: TEntries) {
  return v.pipe(
    v.custom<Record<string, unknown>>(isPlainObject, 'payload must be a plain object'),
    v.object(entries),
  )
}

/** `join` payload. */
export const JoinRequestSchema = payloadSchema({
  room: RoomSchema,
  id: IdSchema,
  publicKey: v.pipe(v.string(), v.regex(HEX64, 'must be a 32-byte key as 64 lowercase hex digits')),
})

/** `authenticate` payload. */
export const AuthenticateRequestSchema = payloadSchema({
  signature: v.pipe(v.string(), v.regex(HEX128, 'must be a 64-byte signature as 128 lowercase hex digits')),
})

/** `list-peers` payload. */
export const ListPeersRequestSchema = payloadSchema({ cursor: v.optional(IdSchema) })

/** `signal` payload (any client-supplied `from` is stripped). */
export const SignalRequestSchema = payloadSchema({
  to: IdSchema,
  session: SessionSchema,
  data: SignalDataSchema,
})

/** `leave` payload. */
export const LeaveRequestSchema = payloadSchema({})

/** `add-identity` payload. */
export const AddIdentityRequestSchema = payloadSchema({
  id: IdSchema,
  publicKey: v.pipe(v.string(), v.regex(HEX64, 'must be a 32-byte key as 64 lowercase hex digits')),
})

/** `prove-identity` payload. */
export const ProveIdentityRequestSchema = payloadSchema({
  id: IdSchema,
  signature: v.pipe(v.string(), v.regex(HEX128, 'must be a 64-byte signature as 128 lowercase hex digits')),
})

/** `remove-identity` payload. */
export const RemoveIdentityRequestSchema = payloadSchema({ id: IdSchema })

/** `resolve` payload. */
export const ResolveRequestSchema = payloadSchema({
  ids: v.pipe(v.array(IdSchema), v.minLength(1), v.maxLength(MAX_PEERS_PAGE)),
})

/** The request schema of every client→server event, by event name. */
export const ClientRequestSchemas = {
  join: JoinRequestSchema,
  authenticate: AuthenticateRequestSchema,
  'list-peers': ListPeersRequestSchema,
  signal: SignalRequestSchema,
  leave: LeaveRequestSchema,
  'add-identity': AddIdentityRequestSchema,
  'prove-identity': ProveIdentityRequestSchema,
  'remove-identity': RemoveIdentityRequestSchema,
  resolve: ResolveRequestSchema,
  'ice-servers': payloadSchema({}),
} as const satisfies Record<ClientEventName, v.GenericSchema>

/** `peer-joined` / `peer-left` payload (clients should validate what the server pushes too). */
export const PeerEventSchema = v.object({ id: IdSchema, host: v.optional(IdSchema) })

/** `signal` event payload as delivered to the destination. */
export const SignalEventSchema = v.object({ from: IdSchema, session: SessionSchema, data: SignalDataSchema })

/** The error part of a failed ack. */
export const SignalErrorSchema = v.object({ code: v.picklist(SIGNAL_ERROR_CODES), message: v.string() })

/** `join` result. */
export const JoinResponseSchema = v.object({ challenge: IdSchema, signalRefusals: v.optional(v.boolean()) })

/** `signal-refused` event payload (see `SignalRefusedEvent`). */
export const SignalRefusedEventSchema = v.object({
  to: v.pipe(v.string(), v.maxLength(64)),
  session: v.pipe(v.string(), v.maxLength(64)),
  error: SignalErrorSchema,
  data: v.optional(SignalDataSchema),
})

/** `resolve` result. */
export const ResolveResponseSchema = v.object({
  hosts: v.pipe(
    v.record(IdSchema, IdSchema),
    v.check((x) => Object.keys(x).length <= MAX_PEERS_PAGE, `at most ${MAX_PEERS_PAGE} hosts`),
  ),
})

/** `ice-servers` result. */
export const IceServersResponseSchema = v.object({
  iceServers: v.pipe(
    v.array(
      v.object({
        urls: v.pipe(v.array(v.pipe(v.string(), v.maxLength(512))), v.minLength(1), v.maxLength(8)),
        username: v.pipe(v.string(), v.maxLength(512)),
        credential: v.pipe(v.string(), v.maxLength(512)),
        expiresAt: v.pipe(v.number(), v.finite()),
      }),
    ),
    v.maxLength(8),
  ),
})

/** `authenticate` / `list-peers` result. */
export const PeersPageSchema = v.object({
  peers: v.pipe(v.array(IdSchema), v.maxLength(MAX_PEERS_PAGE)),
  nextCursor: v.optional(IdSchema),
})

/** Builds the schema of an ack whose success part is `ok` (for clients validating server answers). */
export function ackSchema<const TEntries extends v.ObjectEntries>(ok: v.ObjectSchema<TEntries, undefined>) {
  return v.variant('ok', [
    v.object({ ...ok.entries, ok: v.literal(true) }),
    v.object({ ok: v.literal(false), error: SignalErrorSchema }),
  ])
}

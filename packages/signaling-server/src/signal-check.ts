/**
 * The hot path of `signal` validation: accepts exactly the payloads the protocol's `SignalRequestSchema` accepts
 * and returns the same output (`to`, `session` and `data`; other keys dropped), without building valibot's
 * pipeline per signal. Anything it does not accept goes to the schema, which finds the issue to report, so the
 * schema stays the one definition of a valid signal.
 *
 * @module
 */
import {
  jsonSize,
  MAX_SIGNAL_DATA_SIZE,
  SESSION_PATTERN,
  type SignalData,
  type SignalRequest,
} from '@skipmesh/signaling-protocol'

/** Ids: 64 lowercase hex digits (`IdSchema`). */
const ID_PATTERN = /^[0-9a-f]{64}$/

function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (typeof x !== 'object' || x === null) return false
  const proto = Object.getPrototypeOf(x) as unknown
  return proto === Object.prototype || proto === null
}

/** The validated `signal` payload, or `undefined` when the schema must look at it (it may be invalid). */
export function checkSignal(payload: unknown): SignalRequest | undefined {
  if (!isPlainObject(payload)) return undefined
  const { to, session, data } = payload
  if (typeof to !== 'string' || !ID_PATTERN.test(to)) return undefined
  if (typeof session !== 'string' || !SESSION_PATTERN.test(session)) return undefined
  if (!isPlainObject(data)) return undefined
  const size = jsonSize(data)
  if (size < 0 || size > MAX_SIGNAL_DATA_SIZE) return undefined
  return { to, session, data: data as SignalData }
}

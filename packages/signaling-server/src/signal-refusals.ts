/**
 * The refusal-only answer of a `signal` its client emitted without an ack callback (the protocol's
 * `signalRefusals`): nothing on success, a `signal-refused` push to the sender on refusal. A rate-limited signal's
 * push carries its data (when valid), so that the sender can send it again once its budget refills.
 *
 * @module
 */
import type { SignalData, SignalRefusedEvent } from '@skipmesh/signaling-protocol'
import type { SignalingSocket } from './context.js'
import type { Ackable } from './rate-limit.js'
import { checkSignal } from './signal-check.js'

function echoed(value: unknown): string {
  return typeof value === 'string' && value.length <= 64 ? value : ''
}

/** The ack of a `signal` that `socket` sent without one: refusals of `payload` (as it arrived) are pushed. */
export function refusalPush(socket: SignalingSocket, payload: unknown): Ackable {
  return (res) => {
    if (res.ok || !socket.connected) return
    const { to, session } = (typeof payload === 'object' && payload !== null ? payload : {}) as Record<
      string,
      unknown
    >
    const valid = res.error.code === 'rate-limited' ? checkSignal(payload) : undefined
    const event: SignalRefusedEvent = {
      to: echoed(to),
      session: echoed(session),
      error: res.error,
      ...(valid === undefined ? {} : { data: valid.data as SignalData }),
    }
    socket.emit('signal-refused', event)
  }
}

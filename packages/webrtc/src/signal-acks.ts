/**
 * Which signals the signaling client asks the server to acknowledge, and the refusals of those it did not. The first
 * signal to a peer under a session is acknowledged: its refusal (the peer is not in the room, say) fails the
 * caller's dial at once. The later ones of that session need no ack from a server that pushes refusals (the
 * protocol's `signalRefusals`): the client learns of a refusal, not of every success, and the server writes one
 * frame less per signal.
 *
 * @module
 */
import { sleep } from '@skipmesh/core/internal'
import { type SignalRequest, SignalRefusedEventSchema } from '@skipmesh/signaling-protocol'
import * as v from 'valibot'

/** Sessions remembered; past it the oldest is forgotten (its next signal is acknowledged again: safe). */
const MAX_SESSIONS = 1024
/** Pause before a signal refused as rate-limited is sent again. */
const RESEND_AFTER_MS = 250

/** The (peer, session) pairs whose first signal was sent, most recent last, and the refusals pushed. */
export class SignalAcks {
  readonly #sent = new Set<string>()
  #refused = 0

  /** Signals sent without an ack that the server refused. */
  get refusedCount(): number {
    return this.#refused
  }

  /**
   * Whether the signal to `to` under `session` is the first of its session (it is then remembered): the one to
   * acknowledge.
   */
  first(to: string, session: string): boolean {
    const key = `${to}/${session}`
    if (this.#sent.has(key)) return false
    this.#sent.add(key)
    if (this.#sent.size > MAX_SESSIONS) {
      const oldest = this.#sent.values().next().value
      if (oldest !== undefined) this.#sent.delete(oldest)
    }
    return true
  }

  /**
   * Takes a `signal-refused` push (untrusted: validated); false when it is malformed. A rate-limited signal whose
   * data came back is handed to `resend` (acknowledged, with its retries) after a pause; its failure is dropped.
   */
  refused(payload: unknown, resend: (request: SignalRequest) => Promise<unknown>): boolean {
    const parsed = v.safeParse(SignalRefusedEventSchema, payload)
    if (!parsed.success) return false
    this.#refused++
    const { to, session, error, data } = parsed.output
    if (error.code === 'rate-limited' && data !== undefined) {
      void sleep(RESEND_AFTER_MS)
        .then(() => resend({ to, session, data }))
        .catch(() => {})
    }
    return true
  }

  /** Forgets every session (a new join). */
  clear(): void {
    this.#sent.clear()
  }
}

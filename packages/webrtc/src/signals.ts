/**
 * The peer-to-peer messages that travel as the `data` of signaling `signal` events, and their valibot schemas.
 * Every message from a remote is untrusted: {@link parsePeerMessage} validates it once and the rest of the code
 * uses the inferred type.
 *
 * @module
 */
import * as v from 'valibot'
import type { PeerSignal } from './peer-transport.js'

/** Most negotiation signals in one message. */
export const MAX_SIGNAL_BATCH = 64
/** Longest SDP or ICE candidate string accepted (the signaling server caps a whole message at 60 KiB anyway). */
const MAX_SDP_LENGTH = 60 * 1024

const DescriptionSchema = v.object({
  type: v.picklist(['offer', 'answer']),
  sdp: v.pipe(v.string(), v.maxLength(MAX_SDP_LENGTH)),
})

const CandidateSchema = v.object({
  type: v.literal('candidate'),
  candidate: v.object({
    candidate: v.pipe(v.string(), v.maxLength(MAX_SDP_LENGTH)),
    sdpMid: v.exactOptional(v.nullable(v.string())),
    sdpMLineIndex: v.exactOptional(v.nullable(v.pipe(v.number(), v.integer(), v.minValue(0)))),
  }),
})

/** One negotiation signal: an offer, an answer or an ICE candidate. */
export const PeerSignalSchema = v.variant('type', [DescriptionSchema, CandidateSchema])

/** Asks the lower identifier to dial (sent by the higher one, which never makes offers). */
const DialSchema = v.object({ dial: v.literal(true) })
/** The sender abandoned the attempt of this session. */
const ByeSchema = v.object({ bye: v.literal(true) })
/** Negotiation signals of one session, the sender's description first. */
const BatchSchema = v.object({
  batch: v.pipe(v.array(PeerSignalSchema), v.minLength(1), v.maxLength(MAX_SIGNAL_BATCH)),
})

/** A peer-to-peer message: `{ dial: true }`, `{ bye: true }` or `{ batch: PeerSignal[] }`. */
export const PeerMessageSchema = v.union([DialSchema, ByeSchema, BatchSchema])

/** A validated peer-to-peer message. */
export type PeerMessage = v.InferOutput<typeof PeerMessageSchema>

// the schema and the transport contract describe the same signal
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never
const sameSignal: Same<v.InferOutput<typeof PeerSignalSchema>, PeerSignal> = true
void sameSignal

/** The validated message, or `undefined` when `data` is not one. Never throws. */
export function parsePeerMessage(data: unknown): PeerMessage | undefined {
  const parsed = v.safeParse(PeerMessageSchema, data)
  return parsed.success ? parsed.output : undefined
}

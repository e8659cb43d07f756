/**
 * The frame a skip-graph signal travels in, hop to hop: `[version][hops][budget ms, u32 BE][target, 32][origin, 32][body]`.
 *
 * @module
 */
import { Identifier } from '@skipmesh/core'

/** Largest signal carried, in bytes. */
export const MAX_SIGNAL_BYTES = 64 * 1024

const VERSION = 1
const HEADER = 1 + 1 + 4 + 32 + 32

/** One hop's view of a signal. */
export interface Frame {
  readonly hops: number
  readonly budgetMs: number
  readonly target: Identifier
  readonly origin: Identifier
  readonly body: Uint8Array
}

/** `[version][hops][budget ms, u32 BE][target, 32][origin, 32][body]`. */
export function encodeFrame(
  hops: number,
  budgetMs: number,
  target: Identifier,
  origin: Identifier,
  body: Uint8Array,
): Uint8Array {
  const out = new Uint8Array(HEADER + body.length)
  const view = new DataView(out.buffer)
  out[0] = VERSION
  out[1] = hops
  view.setUint32(2, budgetMs)
  out.set(target.bytes, 6)
  out.set(origin.bytes, 38)
  out.set(body, HEADER)
  return out
}

/** The frame in `bytes`, or `undefined` when they are not one (never throws). */
export function decodeFrame(bytes: Uint8Array): Frame | undefined {
  if (bytes.length < HEADER || bytes.length > HEADER + MAX_SIGNAL_BYTES || bytes[0] !== VERSION)
    return undefined
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return {
    hops: bytes[1] ?? 0,
    budgetMs: view.getUint32(2),
    target: Identifier.fromBytes(bytes.slice(6, 38)),
    origin: Identifier.fromBytes(bytes.slice(38, 70)),
    body: bytes.slice(HEADER),
  }
}

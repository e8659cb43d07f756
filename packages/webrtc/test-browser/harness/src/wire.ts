/**
 * What crosses between the test process and a page: bytes as base64, errors as `{ name, message }` turned back
 * into instances of the same skipmesh error class.
 *
 * @module
 */
import * as core from '@skipmesh/core'
import * as webrtc from '@skipmesh/webrtc'

/** An error as it crosses a page boundary. */
export interface WireError {
  name: string
  message: string
}

export function toBase64(bytes: Uint8Array): string {
  let s = ''
  const step = 0x8000
  for (let i = 0; i < bytes.length; i += step) s += String.fromCharCode(...bytes.subarray(i, i + step))
  return btoa(s)
}

export function fromBase64(b64: string): Uint8Array {
  const s = atob(b64)
  const out = new Uint8Array(s.length)
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i)
  return out
}

export function toWireError(err: unknown): WireError {
  if (err instanceof Error) return { name: err.name, message: err.message }
  return { name: 'Error', message: String(err) }
}

type ErrorClass = new (message: string) => Error

const ERROR_CLASSES: ReadonlyMap<string, ErrorClass> = (() => {
  const map = new Map<string, ErrorClass>()
  for (const value of [...Object.values(core), ...Object.values(webrtc)]) {
    if (typeof value === 'function' && value.prototype instanceof Error) {
      const name = (value as { name: string }).name
      map.set(name, value as unknown as ErrorClass)
    }
  }
  return map
})()

/** The same class as on the other side when it is a skipmesh error, else a plain `Error` with that `name`. */
export function fromWireError(wire: WireError): Error {
  const Class = ERROR_CLASSES.get(wire.name)
  if (Class !== undefined) return new Class(wire.message)
  const err = new Error(wire.message)
  err.name = wire.name
  return err
}

/** SHA-256 of `bytes`, lowercase hex. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>))
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('')
}

/** Deterministic pseudo-random bytes (xorshift32), so both sides can derive the same payload from a seed. */
export function patternBytes(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size)
  let x = seed | 0 || 0x2545f491
  for (let i = 0; i < size; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

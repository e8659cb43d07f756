import {
  ConnectionFailedError,
  generateKeyPair,
  Identifier,
  type KeyPair,
  type Unsubscribe,
} from '@skipmesh/core'
import { createOverlaySignaling, type OverlaySignaling } from '../src/overlay-signaling.js'
import type { SignalRelay } from '../src/signaling.js'

/** What a relay may do to one sealed signal in transit: return the bytes to deliver, or `undefined` to drop it. */
export type Tamper = (bytes: Uint8Array, to: Identifier) => Uint8Array | undefined

/**
 * Relays between overlay signalings in one process (what the skip graph's signaler does over connections), with a
 * hook that lets a test be a hostile relay, and a log of every signal delivered.
 */
export class TestRelays {
  readonly #handlers = new Map<string, (bytes: Uint8Array) => void | Promise<void>>()
  /** Every signal delivered, as delivered. */
  readonly delivered: Array<{ to: Identifier; bytes: Uint8Array }> = []
  tamper: Tamper | undefined

  /** The relay of node `id`. */
  relayFor(id: Identifier): SignalRelay {
    const handlers = this.#handlers
    return {
      relay: async (to, bytes) => {
        const handler = handlers.get(to.toHex())
        if (handler === undefined) throw new ConnectionFailedError(`no route to ${to.toHex()}`)
        const out = this.tamper === undefined ? bytes : this.tamper(bytes, to)
        if (out === undefined) return
        this.delivered.push({ to, bytes: out })
        await handler(out)
      },
      onDeliver: (handler): Unsubscribe => {
        handlers.set(id.toHex(), handler)
        return () => void handlers.delete(id.toHex())
      },
    }
  }

  /** Hands `bytes` to `to` again, as a relay replaying them would. */
  async replay(to: Identifier, bytes: Uint8Array): Promise<void> {
    await this.#handlers.get(to.toHex())?.(bytes)
  }
}

/** A self-certifying identity and an overlay signaling for it, attached to `relays`. */
export async function overlayIdentity(relays: TestRelays): Promise<{
  id: Identifier
  keyPair: KeyPair
  overlay: OverlaySignaling
}> {
  const keyPair = await generateKeyPair()
  const id = Identifier.fromPublicKey(keyPair.publicKey)
  const overlay = createOverlaySignaling({ localId: id, keyPair })
  overlay.attach(relays.relayFor(id))
  return { id, keyPair, overlay }
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** Rewrites the payload of a sealed signal (the signature stays the sender's): what a hostile relay can do. */
export function rewritePayload(
  bytes: Uint8Array,
  edit: (data: Record<string, unknown>) => Record<string, unknown>,
): Uint8Array {
  const sealed = JSON.parse(decoder.decode(bytes)) as { data: string }
  sealed.data = JSON.stringify(edit(JSON.parse(sealed.data) as Record<string, unknown>))
  return encoder.encode(JSON.stringify(sealed))
}

/** Whether a sealed signal carries a description (offer or answer). */
export function carriesDescription(bytes: Uint8Array): boolean {
  const sealed = JSON.parse(decoder.decode(bytes)) as { data: string }
  return /"type":"(offer|answer)"/.test(sealed.data)
}

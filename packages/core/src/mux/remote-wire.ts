import type { Channel } from '../channel.js'
import { ConnectionFailedError } from '../errors.js'
import type { Identifier } from '../identifier.js'
import { encodeControl, encodeData, FrameKind } from './frame.js'
import type { VirtualConnection, VirtualWire } from './virtual.js'

/** The host connection a remote wire sends on. */
export interface FrameSink {
  send(frame: Uint8Array): Promise<void>
}

/**
 * The wire of a virtual connection that rides a host connection. Its close handshake runs on the one ordered
 * stream of the host pair: each side sends `close` (it sends no more data) once, and `fin` once it has sent
 * its `close` and received the remote's (so it has received all the remote's data); a side is closed when it
 * has sent and received `fin`, at which point both sides have received everything the other sent.
 */
export class RemoteWire implements VirtualWire {
  readonly link: FrameSink
  readonly source: Identifier
  readonly destination: Identifier
  /** The connection this wire belongs to (set once it exists). */
  conn: VirtualConnection | undefined
  readonly #closeTimeoutMs: number
  #closeSent = false
  #closeReceived = false
  #finSent = false
  #finReceived = false
  #timer: ReturnType<typeof setTimeout> | undefined

  constructor(link: FrameSink, source: Identifier, destination: Identifier, closeTimeoutMs: number) {
    this.link = link
    this.source = source
    this.destination = destination
    this.#closeTimeoutMs = closeTimeoutMs
  }

  send(channel: Channel, bytes: Uint8Array): Promise<void> {
    return this.link.send(encodeData(this.source, this.destination, channel, bytes))
  }

  close(): void {
    this.#sendClose()
    this.#progress()
  }

  /** The remote's `close` arrived: everything it sent is here. */
  onClose(): void {
    this.#closeReceived = true
    this.conn?.closing()
    this.#sendClose()
    this.#progress()
  }

  /** The remote's `fin` arrived: it has everything we sent. */
  onFin(): void {
    this.#finReceived = true
    this.#progress()
  }

  /** The connection closed another way (host link lost): stop the handshake's timer. */
  dispose(): void {
    clearTimeout(this.#timer)
  }

  #sendClose(): void {
    if (this.#closeSent) return
    this.#closeSent = true
    this.#control(FrameKind.Close)
    this.#timer = setTimeout(() => {
      this.conn?.closed(new ConnectionFailedError('the close handshake timed out'))
    }, this.#closeTimeoutMs)
  }

  #progress(): void {
    if (this.#closeSent && this.#closeReceived && !this.#finSent) {
      this.#finSent = true
      this.#control(FrameKind.Fin)
    }
    if (this.#finSent && this.#finReceived) {
      this.dispose()
      this.conn?.closed(undefined)
    }
  }

  #control(kind: typeof FrameKind.Close | typeof FrameKind.Fin): void {
    // a failed send means the host connection is gone; its close event closes this connection
    this.link.send(encodeControl(kind, this.source, this.destination)).catch(() => {})
  }
}

import { type AbortOptions, raceSignal } from '../abort.js'
import type { Connection } from '../connection.js'
import { PeerNotFoundError } from '../errors.js'
import type { Identifier } from '../identifier.js'
import { type Deferred, deferred } from '../internal/async.js'
import type { HostDirectory } from './contract.js'
import { withDeadline } from './deadline.js'
import { HostLinkClosedError, MuxBacklogOverflowError } from './errors.js'
import { decodeFrame, encodeControl, type Frame, FrameKind, MUX_CHANNEL } from './frame.js'
import { RemoteWire } from './remote-wire.js'
import { VirtualConnection, type VirtualOwner } from './virtual.js'

/** The frame counters a multiplexer keeps. */
export interface FrameCounters {
  framesIn: number
  framesOut: number
  rejectedFrames: number
  droppedFrames: number
}

/** A local node as a host link sees it. */
export interface LinkNode extends VirtualOwner {
  readonly localId: Identifier
  /** Whether it takes new connections (started, not stopping). */
  readonly accepting: boolean
  /** Its connection to `remote` that is open or still closing, if any (at most one). */
  linked(remote: Identifier): VirtualConnection | undefined
  /** Takes a new connection: lists it and emits `'connection'`. */
  adopt(conn: VirtualConnection): void
}

/** What a host link needs from its multiplexer. */
export interface LinkContext {
  readonly directory: HostDirectory
  readonly counters: FrameCounters
  readonly maxBacklog: number
  readonly verifyTimeoutMs: number
  /** The started local node with `id`, if any. */
  localNode(id: Identifier): LinkNode | undefined
}

function key(local: Identifier, remote: Identifier): string {
  return `${local.toHex()}:${remote.toHex()}`
}

/**
 * One host connection as the multiplexer uses it: sends frames, verifies and dispatches incoming ones, keeps
 * the virtual connections riding it and the opens waiting for their answer. Frames of one link (one source and
 * destination) are handled in arrival order: while the source of an incoming open is being checked with the
 * directory, later frames of that link wait; other links go on.
 */
export class HostLink {
  readonly connection: Connection
  readonly #ctx: LinkContext
  readonly #virtual = new Set<VirtualConnection>()
  readonly #pending = new Map<string, Deferred<VirtualConnection>>()
  /** Remote nodes whose links on this host connection were verified (late frames from them are not forgeries). */
  readonly #known = new Set<string>()
  /** Frames of the links whose open is being verified, by link (source:destination), in arrival order. */
  readonly #held = new Map<string, Frame[]>()
  #heldCount = 0
  #closed = false

  constructor(connection: Connection, ctx: LinkContext) {
    this.connection = connection
    this.#ctx = ctx
  }

  /** The remote host's id. */
  get remoteHost(): Identifier {
    return this.connection.remoteId
  }

  /** Sends one frame on the host connection. */
  send(frame: Uint8Array): Promise<void> {
    this.#ctx.counters.framesOut++
    return this.connection.send(MUX_CHANNEL, frame)
  }

  /**
   * Opens a virtual link from `node` to `remote` (a node of this link's host): sends an open and waits for the
   * accept (or the remote's own open, when both sides dial at once).
   * @throws {PeerNotFoundError} when the remote host refuses (no such node there).
   * @throws {HostLinkClosedError} when the host connection closes first.
   * @throws {AbortError} when `options.signal` aborts.
   */
  async open(node: LinkNode, remote: Identifier, options: AbortOptions): Promise<VirtualConnection> {
    if (this.#closed) throw new HostLinkClosedError('the host connection closed')
    const k = key(node.localId, remote)
    const waiting = deferred<VirtualConnection>()
    this.#pending.set(k, waiting)
    try {
      await this.send(encodeControl(FrameKind.Open, node.localId, remote))
      return await raceSignal(waiting.promise, options.signal)
    } finally {
      if (this.#pending.get(k) === waiting) this.#pending.delete(k)
    }
  }

  /** One message from the host connection's mux channel. */
  receive(bytes: Uint8Array): void {
    if (this.#closed) return
    this.#ctx.counters.framesIn++
    const frame = decodeFrame(bytes)
    if (frame === undefined) {
      this.#ctx.counters.rejectedFrames++
      return
    }
    this.#handle(frame)
  }

  /** The host connection closed: every virtual link on it closes, every open waiting on it fails. */
  closed(reason: Error | undefined): void {
    if (this.#closed) return
    this.#closed = true
    this.#held.clear()
    const error = new HostLinkClosedError(`the host connection to ${this.remoteHost.toHex()} closed`, {
      cause: reason,
    })
    for (const conn of [...this.#virtual]) conn.closed(error)
    this.#virtual.clear()
    for (const d of this.#pending.values()) d.reject(error)
    this.#pending.clear()
  }

  /** Dispatches a frame, or holds it behind the open of its link being verified (per link order is kept). */
  #handle(frame: Frame): void {
    const counters = this.#ctx.counters
    const held = this.#held.get(key(frame.source, frame.destination))
    if (held !== undefined) {
      if (this.#heldCount >= this.#ctx.maxBacklog) {
        this.closed(new MuxBacklogOverflowError(`more than ${this.#ctx.maxBacklog} frames waiting`))
        void this.connection.close().catch(() => {})
        return
      }
      held.push(frame)
      this.#heldCount++
      return
    }
    const node = this.#ctx.localNode(frame.destination)
    if (node === undefined) {
      // not hosted here (never, or no longer): refuse an open so the dialler fails fast
      counters.rejectedFrames++
      if (frame.kind === FrameKind.Open) this.#reply(FrameKind.Refuse, frame)
      return
    }
    const conn = node.linked(frame.source)
    const mine = conn !== undefined && conn.wire instanceof RemoteWire && conn.wire.link === this
    switch (frame.kind) {
      case FrameKind.Open:
        this.#verify(frame)
        return
      case FrameKind.Accept:
        this.#accepted(node, frame, mine ? conn : undefined)
        return
      case FrameKind.Refuse: {
        const waiting = this.#pending.get(key(node.localId, frame.source))
        if (waiting === undefined) counters.droppedFrames++
        else waiting.reject(new PeerNotFoundError(`${frame.source.toHex()} is not on that host`))
        return
      }
      case FrameKind.Data:
        if (mine) conn.receive(frame.channel, frame.payload)
        else this.#stray(frame)
        return
      case FrameKind.Close:
        if (mine) (conn.wire as RemoteWire).onClose()
        else {
          // a close for no link here (e.g. we gave up on the dial it answered): let the remote finish
          if (this.#stray(frame)) this.#reply(FrameKind.Fin, frame)
        }
        return
      case FrameKind.Fin:
        if (mine) (conn.wire as RemoteWire).onFin()
        else this.#stray(frame)
        return
    }
  }

  /** A frame for no virtual link of this host connection: late, or forged. */
  #stray(frame: Frame): boolean {
    const known = this.#known.has(frame.source.toHex())
    if (known) this.#ctx.counters.droppedFrames++
    else this.#ctx.counters.rejectedFrames++
    return known
  }

  #reply(kind: Exclude<FrameKind, 4>, to: Frame): void {
    this.send(encodeControl(kind, to.destination, to.source)).catch(() => {})
  }

  /** An incoming open: the directory must bind its source to this host connection's remote host. */
  #verify(frame: Frame): void {
    const k = key(frame.source, frame.destination)
    this.#held.set(k, [])
    withDeadline(this.#ctx.verifyTimeoutMs, (signal) => this.#ctx.directory.resolve(frame.source, { signal }))
      .then(
        (host) => host.equals(this.remoteHost),
        () => false,
      )
      .then((genuine) => {
        if (this.#closed) return
        const held = this.#held.get(k) ?? []
        this.#held.delete(k)
        this.#heldCount -= held.length
        if (genuine) this.#opened(frame)
        else this.#ctx.counters.rejectedFrames++
        // in order; a later open of the same link holds the rest again
        for (const f of held) {
          if (this.#closed) return
          this.#handle(f)
        }
      })
  }

  /** A verified open: accept it (before anything the new connection's listeners may send). */
  #opened(frame: Frame): void {
    const node = this.#ctx.localNode(frame.destination)
    if (node === undefined || !node.accepting) {
      this.#reply(FrameKind.Refuse, frame)
      return
    }
    this.#known.add(frame.source.toHex())
    const existing = node.linked(frame.source)
    if (existing !== undefined && existing.wire instanceof RemoteWire && existing.wire.link === this) {
      // the remote opens a link we think is up: harmless if open; while closing it is out of protocol
      this.#reply(existing.status === 'open' ? FrameKind.Accept : FrameKind.Refuse, frame)
      return
    }
    existing?.closed(new HostLinkClosedError('superseded by a link over another host connection'))
    this.#reply(FrameKind.Accept, frame)
    const conn = this.#create(node, frame.source)
    this.#pending.get(key(node.localId, frame.source))?.resolve(conn)
  }

  /** The answer to an open of ours. */
  #accepted(node: LinkNode, frame: Frame, mine: VirtualConnection | undefined): void {
    const waiting = this.#pending.get(key(node.localId, frame.source))
    if (waiting === undefined) {
      if (mine !== undefined) return // both sides dialled: the link was opened by the remote's own open
      // unsolicited (e.g. our dial timed out): tell the remote to drop its side, and finish its handshake
      this.#ctx.counters.rejectedFrames++
      this.#known.add(frame.source.toHex())
      this.#reply(FrameKind.Close, frame)
      return
    }
    this.#known.add(frame.source.toHex())
    waiting.resolve(mine ?? this.#create(node, frame.source))
  }

  #create(node: LinkNode, remote: Identifier): VirtualConnection {
    const wire = new RemoteWire(this, node.localId, remote, this.#ctx.verifyTimeoutMs)
    const conn = new VirtualConnection(
      {
        maxMessageSize: node.maxMessageSize,
        removed: (c) => {
          wire.dispose()
          this.#virtual.delete(c)
          node.removed(c)
        },
      },
      remote,
      wire,
    )
    wire.conn = conn
    this.#virtual.add(conn)
    node.adopt(conn)
    return conn
  }
}

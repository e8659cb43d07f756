import {
  AbortError,
  ComponentAlreadyStartedError,
  ConnectionFailedError,
  DuplicatePeerError,
  InvalidOptionsError,
  PeerNotFoundError,
} from '../errors.js'
import type { Connection, ConnectionManager } from '../connection.js'
import type { Unsubscribe } from '../events.js'
import type { Identifier } from '../identifier.js'
import { numberOption } from '../internal/options.js'
import { AbstractComponent, type ThrowableContext } from '../lifecycle.js'
import type { HostDirectory, Multiplexer, MultiplexerMetrics, MultiplexerOptions } from './contract.js'
import { withDeadline } from './deadline.js'
import { MAX_FRAME_OVERHEAD, MUX_CHANNEL } from './frame.js'
import { type FrameCounters, HostLink, type LinkContext } from './host-link.js'
import { MuxNodeManager, type MuxPort } from './node.js'
import { LocalWire, VirtualConnection } from './virtual.js'

/** Defaults of {@link MultiplexerOptions}. */
export const DEFAULT_MULTIPLEXER_OPTIONS = { openTimeoutMs: 30_000, maxBacklog: 8192 } as const

class DefaultMultiplexer extends AbstractComponent implements Multiplexer, LinkContext {
  readonly host: ConnectionManager
  readonly directory: HostDirectory
  readonly maxBacklog: number
  readonly verifyTimeoutMs: number
  readonly counters: FrameCounters = { framesIn: 0, framesOut: 0, rejectedFrames: 0, droppedFrames: 0 }
  readonly #virtual = { opened: 0, closed: 0 }
  /** Every node-level manager made here and not stopped yet. */
  readonly #nodes = new Map<string, MuxNodeManager>()
  /** The started ones: reachable. */
  readonly #attached = new Map<string, MuxNodeManager>()
  readonly #links = new Map<Connection, HostLink>()
  readonly #port: MuxPort
  #offConnection: Unsubscribe | undefined

  constructor(options: MultiplexerOptions) {
    super()
    if (typeof options !== 'object' || options === null) throw new InvalidOptionsError('options are required')
    const { host, directory } = options
    if (typeof host?.connect !== 'function' || typeof host.on !== 'function')
      throw new InvalidOptionsError('host must be a ConnectionManager')
    if (typeof directory?.resolve !== 'function')
      throw new InvalidOptionsError('directory must be a HostDirectory (with resolve)')
    this.host = host
    this.directory = directory
    const d = DEFAULT_MULTIPLEXER_OPTIONS
    this.verifyTimeoutMs = numberOption('openTimeoutMs', options.openTimeoutMs, d.openTimeoutMs, {
      min: 1,
      max: 2 ** 31 - 1,
      integer: true,
    })
    this.maxBacklog = numberOption('maxBacklog', options.maxBacklog, d.maxBacklog, { min: 1, integer: true })
    const maxMessageSize = host.maxMessageSize - MAX_FRAME_OVERHEAD
    if (!(maxMessageSize > 0))
      throw new InvalidOptionsError('host.maxMessageSize is too small for the mux header')
    this.#port = {
      maxMessageSize,
      ready: () => this.ready(),
      attach: (node) => {
        this.#attached.set(node.localId.toHex(), node)
      },
      detach: (node) => {
        const hex = node.localId.toHex()
        if (this.#attached.get(hex) === node) this.#attached.delete(hex)
        if (this.#nodes.get(hex) === node) this.#nodes.delete(hex)
      },
      dial: (node, remote) => this.#dial(node, remote),
      counted: (event) => {
        this.#virtual[event]++
      },
    }
  }

  get hostId(): Identifier {
    return this.host.localId
  }

  node(id: Identifier): ConnectionManager {
    const hex = id.toHex()
    const existing = this.#nodes.get(hex)
    if (existing !== undefined && existing.state !== 'stopped')
      throw new DuplicatePeerError(`a node-level manager for ${hex} already exists on this host`)
    const node = new MuxNodeManager(this.#port, id)
    this.#nodes.set(hex, node)
    return node
  }

  nodes(): Identifier[] {
    return [...this.#attached.values()].map((n) => n.localId)
  }

  localNode(id: Identifier): MuxNodeManager | undefined {
    return this.#attached.get(id.toHex())
  }

  metrics(): MultiplexerMetrics {
    let open = 0
    let local = 0
    for (const node of this.#attached.values()) {
      for (const c of node.connections()) {
        open++
        if ((c as VirtualConnection).wire instanceof LocalWire) local++
      }
    }
    return {
      nodes: this.#attached.size,
      hostLinks: this.#links.size,
      virtualLinks: { open, local, ...this.#virtual },
      ...this.counters,
    }
  }

  protected async onStart(ctx: ThrowableContext): Promise<void> {
    this.#offConnection = this.host.on('connection', (conn) => {
      this.#link(conn)
    })
    try {
      this.host.start(ctx.child())
    } catch (err) {
      // a host manager started before it was handed over is adopted with its open connections
      if (!(err instanceof ComponentAlreadyStartedError)) throw err
    }
    await this.host.ready()
    for (const conn of this.host.connections()) this.#link(conn)
  }

  protected async onStop(): Promise<void> {
    await Promise.all([...this.#nodes.values()].map((n) => n.stop()))
    this.#offConnection?.()
    await this.host.stop()
    for (const link of this.#links.values()) link.closed(undefined)
    this.#links.clear()
  }

  /** The host link of a host connection, made on first sight. */
  #link(conn: Connection): HostLink | undefined {
    const known = this.#links.get(conn)
    if (known !== undefined) return known
    if (conn.status !== 'open') return undefined
    const link = new HostLink(conn, this)
    this.#links.set(conn, link)
    conn.on('message', (channel, bytes) => {
      if (channel === MUX_CHANNEL) link.receive(bytes)
      else this.counters.rejectedFrames++
    })
    conn.on('close', (reason) => {
      link.closed(reason)
      this.#links.delete(conn)
    })
    return link
  }

  #dial(node: MuxNodeManager, remote: Identifier): Promise<VirtualConnection> {
    const local = this.#attached.get(remote.toHex())
    if (local !== undefined) return this.#dialLocal(node, local)
    return this.#dialRemote(node, remote)
  }

  async #dialRemote(node: MuxNodeManager, remote: Identifier): Promise<VirtualConnection> {
    try {
      return await withDeadline(this.verifyTimeoutMs, (signal) => this.#dialOver(node, remote, signal))
    } catch (err) {
      if (err instanceof AbortError || (err as { name?: unknown }).name === 'AbortError')
        throw new ConnectionFailedError(`no link to ${remote.toHex()} within ${this.verifyTimeoutMs} ms`, {
          cause: err,
        })
      throw err
    }
  }

  /** Directory, host connection, open/accept. */
  async #dialOver(node: MuxNodeManager, remote: Identifier, signal: AbortSignal): Promise<VirtualConnection> {
    const hostId = await this.directory.resolve(remote, { signal })
    if (hostId.equals(this.hostId)) {
      const started = this.#attached.get(remote.toHex())
      if (started !== undefined) return await this.#dialLocal(node, started)
      throw new PeerNotFoundError(`${remote.toHex()} is not started on this host`)
    }
    const conn = await this.host.connect(hostId, { signal })
    const link = this.#link(conn)
    if (link === undefined) throw new ConnectionFailedError('the host connection closed while connecting')
    // the remote may have opened the link itself meanwhile
    return node.openConnection(remote) ?? (await link.open(node, remote, { signal }))
  }

  /** Two nodes of this host: a pair of in-memory twins. */
  async #dialLocal(node: MuxNodeManager, target: MuxNodeManager): Promise<VirtualConnection> {
    const existing = node.openConnection(target.localId)
    if (existing !== undefined) return existing
    if (!target.accepting) throw new PeerNotFoundError(`${target.localId.toHex()} is stopping`)
    const ours = new LocalWire()
    const theirs = new LocalWire()
    ours.twin = theirs
    theirs.twin = ours
    ours.conn = new VirtualConnection(node, target.localId, ours)
    theirs.conn = new VirtualConnection(target, node.localId, theirs)
    target.adopt(theirs.conn)
    node.adopt(ours.conn)
    return ours.conn
  }
}

/**
 * Many node-level connection managers over one host-level one (see {@link Multiplexer}).
 * @throws {InvalidOptionsError} when `host` or `directory` is missing or an option is out of range.
 * @example
 * ```ts
 * const directory = createStaticDirectory()
 * const mux = createMultiplexer({ host: hub.connectionManager(hostId), directory })
 * mux.start()
 * directory.bind(nodeId, hostId)
 * const network = createNetwork({ connectionManager: mux.node(nodeId) })
 * ```
 */
export function createMultiplexer(options: MultiplexerOptions): Multiplexer {
  return new DefaultMultiplexer(options)
}

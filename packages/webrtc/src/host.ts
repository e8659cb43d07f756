import {
  AbstractComponent,
  type Connection,
  type ConnectionManager,
  createMultiplexer,
  Identifier,
  InvalidOptionsError,
  type KeyPair,
  type Multiplexer,
  type MultiplexerMetrics,
  type MultiplexerOptions,
  type ThrowableContext,
  type Unsubscribe,
} from '@skipmesh/core'
import { createCompositeSignaling } from './composite-signaling.js'
import { FirstLinkGate } from './host-dial-gate.js'
import { createSignalingDirectory, type SignalingHostDirectory } from './host-directory.js'
import { HostIdentities } from './host-identities.js'
import { WebRtcHostNode } from './host-node.js'
import { watchOpens } from './host-opens.js'
import { HostSignalRelay } from './host-relay.js'
import {
  createWebRtcConnectionManager,
  type WebRtcConnectionManager,
  type WebRtcConnectionManagerOptions,
  type WebRtcMetrics,
} from './manager.js'
import { createOverlaySignaling, type OverlaySignaling } from './overlay-signaling.js'
import type { SignalRelay } from './signaling.js'
import {
  createSignalingClient,
  type SignalingClient,
  type SignalingClientOptions,
} from './signaling-client.js'

/** Options of {@link createWebRtcHost}. */
export interface WebRtcHostOptions
  extends Omit<WebRtcConnectionManagerOptions, 'localId' | 'keyPair' | 'signaling'> {
  /** The host's own id in the signaling room (not a node id). @default Identifier.random() */
  readonly hostId?: Identifier
  /** The key pair that proves `hostId` to the signaling server. */
  readonly keyPair: KeyPair
  /** The signaling server and room (and any other {@link SignalingClientOptions}). */
  readonly signaling: Omit<SignalingClientOptions, 'localId' | 'keyPair'>
  /** Tunables of the multiplexer (`openTimeoutMs`, `maxBacklog`). */
  readonly mux?: Omit<MultiplexerOptions, 'host' | 'directory'>
  /**
   * How long a host-level signal waits for the overlay (the nodes' relays) while the server is connected, before it
   * goes through the server too (the composite's `overlayWaitMs`). @default 1000
   */
  readonly overlayWaitMs?: number
}

/** What {@link WebRtcHost.metrics} reports. */
export interface WebRtcHostMetrics {
  /** The multiplexer's counters (nodes, virtual links, frames, rejected frames). */
  mux: MultiplexerMetrics
  /** The host-level WebRTC manager's counters (`peerConnectionsCreated`: one per remote host). */
  webrtc: WebRtcMetrics
  /** Extra identities the host could not bind again after its signaling socket re-joined. */
  failedRejoins: number
  /** Nodes started while the signaling server was unreachable and not bound on it yet. */
  unboundNodes: number
}

/**
 * Many skipmesh nodes in one tab or process: one signaling socket carries every node's id (each proven with its
 * own key), one `RTCPeerConnection` per remote HOST carries every node pair between the two hosts, and nodes of
 * this host talk in memory. Each {@link WebRtcHost.node} is an ordinary `ConnectionManager` for `createNetwork`.
 *
 * Host-level signals (a host dialling another) are sealed by the host and go over the overlay once a node's relay
 * is added ({@link WebRtcHost.addSignalRelay}): to a node of the target host, through the relays of this host's
 * nodes, the signaling server being the fallback (`createCompositeSignaling`). Without the server, a node's host is
 * learned from the host link its virtual links arrive on, and a node started meanwhile is bound once it is back.
 * @example
 * ```ts
 * const host = createWebRtcHost({ keyPair: await generateKeyPair(), signaling: { url, room: 'demo' } })
 * host.start()
 * await host.ready()
 * const network = createNetwork({ connectionManager: host.node(Identifier.random(), await generateKeyPair()) })
 * network.start()
 * await network.ready() // the node's id is bound on the server (while it is unreachable: once it is back)
 * ```
 */
export class WebRtcHost extends AbstractComponent {
  /** The host-level WebRTC manager (its `localId` is the host id). */
  readonly manager: WebRtcConnectionManager
  /** The multiplexer over it. */
  readonly mux: Multiplexer
  /** The one signaling client of the host. */
  readonly signaling: SignalingClient
  /** The host's signaling over the overlay (its relay: its nodes' relays). */
  readonly overlay: OverlaySignaling
  readonly #directory: SignalingHostDirectory
  readonly #identities: HostIdentities
  readonly #relay: HostSignalRelay
  /** The node-level managers made here (stopped ones have no connections). */
  readonly #nodes = new Set<ConnectionManager>()
  #offOpens: Unsubscribe | undefined
  #offRelay: Unsubscribe | undefined

  /** @internal use {@link createWebRtcHost}. */
  constructor(options: WebRtcHostOptions) {
    super()
    if (typeof options !== 'object' || options === null) throw new InvalidOptionsError('options are required')
    const { hostId = Identifier.random(), keyPair, signaling, mux, overlayWaitMs, ...rest } = options
    if (!(hostId instanceof Identifier)) throw new InvalidOptionsError('hostId must be an Identifier')
    this.signaling = createSignalingClient({ ...signaling, localId: hostId, keyPair })
    this.overlay = createOverlaySignaling({ localId: hostId, keyPair })
    this.manager = createWebRtcConnectionManager({
      ...rest,
      localId: hostId,
      keyPair,
      signaling: createCompositeSignaling({
        server: this.signaling,
        overlay: this.overlay,
        ...(overlayWaitMs === undefined ? {} : { overlayWaitMs }),
      }),
    })
    this.#directory = createSignalingDirectory(this.signaling)
    this.#identities = new HostIdentities(this.signaling)
    this.#relay = new HostSignalRelay((host) => this.#directory.nodesOf(host))
    // before the multiplexer subscribes: the directory learns an open's source before the multiplexer checks it
    this.#offOpens = watchOpens(this.manager, (node, host) => this.#directory.learn(node, host))
    // a new tab dials its first other tab alone, the rest through the graph once a node is linked
    const host = new FirstLinkGate(this.manager, (signal) => this.#remoteLinked(signal))
    this.mux = createMultiplexer({ ...mux, host, directory: this.#directory })
  }

  /** This host's id. */
  get hostId(): Identifier {
    return this.manager.localId
  }

  /**
   * A new, unstarted node-level manager for `id`, owned by `keyPair`. Starting it (the host started or starting)
   * binds `id` on the signaling server, carried by this host (while the server is unreachable, once it is back);
   * stopping it releases `id`.
   * @throws {DuplicatePeerError} when a manager for `id` exists on this host and is not stopped.
   */
  node(id: Identifier, keyPair: KeyPair): ConnectionManager {
    if (typeof keyPair?.sign !== 'function') throw new InvalidOptionsError('keyPair is required')
    const node = new WebRtcHostNode(this.mux.node(id), keyPair, this.#identities, () => this.ready())
    this.#nodes.add(node)
    void node.done().then(() => this.#nodes.delete(node))
    return node
  }

  /**
   * Lets the host's own signals travel over `relay`, the overlay relay of its node `node` (e.g. the node's skip-graph
   * signaler, started on the node's network), towards nodes of the host it dials; the bytes relayed to `node` are
   * taken as the host's signals (sealed for the host id; anything else is refused and counted). The first relay added
   * makes the host's overlay signaling usable; a host with none signals through the server only. Add relays once the
   * host is ready (a relay added before would let its start succeed without the server, and a tab that cannot reach
   * the server must not start a graph of its own). Returns the function that removes it (call it before stopping the
   * relay).
   */
  addSignalRelay(node: Identifier, relay: SignalRelay): Unsubscribe {
    const off = this.#relay.add(node, relay)
    this.#offRelay ??= this.overlay.attach(this.#relay)
    return off
  }

  /** A snapshot of the counters. */
  metrics(): WebRtcHostMetrics {
    return {
      mux: this.mux.metrics(),
      webrtc: this.manager.metrics(),
      failedRejoins: this.#identities.failedRejoins,
      unboundNodes: this.#identities.unbound,
    }
  }

  /** Resolves once a node of this host has a link to a node of another host; rejects when `signal` aborts. */
  #remoteLinked(signal: AbortSignal): Promise<void> {
    const remote = (c: Connection): boolean => !this.mux.nodes().some((id) => id.equals(c.remoteId))
    const linked = (): boolean => [...this.#nodes].some((n) => n.connections().some(remote))
    if (linked()) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      const offs: Unsubscribe[] = []
      const done = (): void => {
        for (const off of offs.splice(0)) off()
        signal.removeEventListener('abort', abort)
      }
      const abort = (): void => {
        done()
        reject(signal.reason)
      }
      signal.addEventListener('abort', abort, { once: true })
      for (const n of this.#nodes) {
        offs.push(
          n.on('connection', (c) => {
            if (!remote(c)) return
            done()
            resolve()
          }),
        )
      }
    })
  }

  protected async onStart(ctx: ThrowableContext): Promise<void> {
    this.mux.start(ctx.child())
    await this.mux.ready()
  }

  protected async onStop(): Promise<void> {
    await this.mux.stop()
    this.#offOpens?.()
    this.#offOpens = undefined
    this.#offRelay?.()
    this.#offRelay = undefined
    this.#identities.close()
    this.#directory.close()
  }
}

/**
 * Makes an unstarted {@link WebRtcHost}.
 * @throws {InvalidOptionsError} when an option is missing or out of range.
 */
export function createWebRtcHost(options: WebRtcHostOptions): WebRtcHost {
  return new WebRtcHost(options)
}

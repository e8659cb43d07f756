import {
  AbstractComponent,
  type ConnectionManager,
  createMultiplexer,
  Identifier,
  InvalidOptionsError,
  type KeyPair,
  type Multiplexer,
  type MultiplexerMetrics,
  type MultiplexerOptions,
  type ThrowableContext,
} from '@skipmesh/core'
import { createSignalingDirectory, type SignalingHostDirectory } from './host-directory.js'
import { HostIdentities } from './host-identities.js'
import { WebRtcHostNode } from './host-node.js'
import {
  createWebRtcConnectionManager,
  type WebRtcConnectionManager,
  type WebRtcConnectionManagerOptions,
  type WebRtcMetrics,
} from './manager.js'
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
}

/** What {@link WebRtcHost.metrics} reports. */
export interface WebRtcHostMetrics {
  /** The multiplexer's counters (nodes, virtual links, frames, rejected frames). */
  mux: MultiplexerMetrics
  /** The host-level WebRTC manager's counters (`peerConnectionsCreated`: one per remote host). */
  webrtc: WebRtcMetrics
  /** Extra identities the host could not bind again after its signaling socket re-joined. */
  failedRejoins: number
}

/**
 * Many skipmesh nodes in one tab or process: one signaling socket carries every node's id (each proven with its
 * own key), one `RTCPeerConnection` per remote HOST carries every node pair between the two hosts, and nodes of
 * this host talk in memory. Each {@link WebRtcHost.node} is an ordinary `ConnectionManager` for `createNetwork`.
 * @example
 * ```ts
 * const host = createWebRtcHost({ keyPair: await generateKeyPair(), signaling: { url, room: 'demo' } })
 * host.start()
 * await host.ready()
 * const network = createNetwork({ connectionManager: host.node(Identifier.random(), await generateKeyPair()) })
 * network.start()
 * await network.ready() // the node's id is bound on the server, reachable from every other host
 * ```
 */
export class WebRtcHost extends AbstractComponent {
  /** The host-level WebRTC manager (its `localId` is the host id). */
  readonly manager: WebRtcConnectionManager
  /** The multiplexer over it. */
  readonly mux: Multiplexer
  /** The one signaling client of the host. */
  readonly signaling: SignalingClient
  readonly #directory: SignalingHostDirectory
  readonly #identities: HostIdentities

  /** @internal use {@link createWebRtcHost}. */
  constructor(options: WebRtcHostOptions) {
    super()
    if (typeof options !== 'object' || options === null) throw new InvalidOptionsError('options are required')
    const { hostId = Identifier.random(), keyPair, signaling, mux, ...rest } = options
    if (!(hostId instanceof Identifier)) throw new InvalidOptionsError('hostId must be an Identifier')
    this.signaling = createSignalingClient({ ...signaling, localId: hostId, keyPair })
    this.manager = createWebRtcConnectionManager({
      ...rest,
      localId: hostId,
      keyPair,
      signaling: this.signaling,
    })
    this.#directory = createSignalingDirectory(this.signaling)
    this.#identities = new HostIdentities(this.signaling)
    this.mux = createMultiplexer({ ...mux, host: this.manager, directory: this.#directory })
  }

  /** This host's id. */
  get hostId(): Identifier {
    return this.manager.localId
  }

  /**
   * A new, unstarted node-level manager for `id`, owned by `keyPair`. Starting it (the host started or starting)
   * binds `id` on the signaling server, carried by this host; stopping it releases `id`.
   * @throws {DuplicatePeerError} when a manager for `id` exists on this host and is not stopped.
   */
  node(id: Identifier, keyPair: KeyPair): ConnectionManager {
    if (typeof keyPair?.sign !== 'function') throw new InvalidOptionsError('keyPair is required')
    return new WebRtcHostNode(this.mux.node(id), keyPair, this.#identities, () => this.ready())
  }

  /** A snapshot of the counters. */
  metrics(): WebRtcHostMetrics {
    return {
      mux: this.mux.metrics(),
      webrtc: this.manager.metrics(),
      failedRejoins: this.#identities.failedRejoins,
    }
  }

  protected async onStart(ctx: ThrowableContext): Promise<void> {
    this.mux.start(ctx.child())
    await this.mux.ready()
  }

  protected async onStop(): Promise<void> {
    await this.mux.stop()
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

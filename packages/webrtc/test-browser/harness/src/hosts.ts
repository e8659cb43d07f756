/**
 * Many skipmesh nodes in this page behind one `createWebRtcHost` (one signaling socket, one RTCPeerConnection per
 * remote host), driven from the test process. Every RTCPeerConnection the page ever constructs is counted.
 *
 * @module
 */
import {
  type Channel,
  type Conduit,
  channel,
  createNetwork,
  generateKeyPair,
  Identifier,
  type Message,
  type Network,
} from '@skipmesh/core'
import { createWebRtcHost, type RTCPeerConnectionConstructor, type WebRtcHost } from '@skipmesh/webrtc'

const TEST = channel('hosts')
const text = new TextEncoder()
const decode = new TextDecoder()

/** The host of this page and its nodes. */
export function createHosts() {
  let host: WebRtcHost | undefined
  let constructed = 0
  const networks: Network[] = []
  const conduits: Conduit[] = []
  const inboxes: string[][] = []
  const waiters: Array<() => void> = []
  const arrived = (): number => inboxes.reduce((n, b) => n + b.length, 0)

  return {
    /** Starts the host and `count` nodes in `room`; resolves with the node ids (hex). */
    async start(url: string, room: string, count: number): Promise<string[]> {
      const Base = globalThis.RTCPeerConnection
      class Counting extends Base {
        constructor(config?: RTCConfiguration) {
          super(config)
          constructed++
        }
      }
      host = createWebRtcHost({
        keyPair: await generateKeyPair(),
        signaling: { url, room },
        rtc: { iceServers: [] },
        wrtc: { RTCPeerConnection: Counting as unknown as RTCPeerConnectionConstructor },
      })
      host.start()
      await host.ready()
      for (let i = 0; i < count; i++) {
        const network = createNetwork({
          connectionManager: host.node(Identifier.random(), await generateKeyPair()),
        })
        networks.push(network)
      }
      for (const n of networks) n.start()
      await Promise.all(networks.map((n) => n.ready()))
      for (const [i, n] of networks.entries()) {
        const inbox: string[] = []
        inboxes.push(inbox)
        conduits.push(
          await n.register(TEST, {
            processIncomingMessage(_ch: Channel, _origin: Identifier, message: Message) {
              inbox.push(decode.decode(message.payload))
              for (const w of waiters.splice(0)) w()
            },
            processRequest(_ch: Channel, origin: Identifier, message: Message): Message {
              const body = `${decode.decode(message.payload)} at ${i} from ${origin.toHex().slice(0, 8)}`
              return { payload: text.encode(body), metadata: {} }
            },
          }),
        )
      }
      return networks.map((n) => n.localId.toHex())
    },
    /** Every node of this page sends `<its id>-><target>` to every target but itself. */
    async sendAll(targets: string[]): Promise<void> {
      const sends: Array<Promise<void>> = []
      for (const [i, c] of conduits.entries()) {
        const from = networks[i]!.localId.toHex()
        for (const to of targets) {
          if (to === from) continue
          sends.push(c.send(Identifier.fromHex(to), { payload: text.encode(`${from}->${to}`), metadata: {} }))
        }
      }
      await Promise.all(sends)
    },
    /** Resolves once `n` messages arrived over all nodes of this page; rejects after `timeoutMs`. */
    async waitFor(n: number, timeoutMs: number): Promise<void> {
      const signal = AbortSignal.timeout(timeoutMs)
      while (arrived() < n) {
        if (signal.aborted) throw new Error(`only ${arrived()} of ${n} messages arrived`)
        await new Promise<void>((resolve) => {
          waiters.push(resolve)
          signal.addEventListener('abort', () => resolve(), { once: true })
        })
      }
    },
    /** What each node of this page received. */
    received(): string[][] {
      return inboxes.map((b) => [...b])
    },
    /** A request from node `from` of this page to `to`; resolves with the reply text. */
    async request(from: number, to: string): Promise<string> {
      const reply = await conduits[from]!.request(
        Identifier.fromHex(to),
        { payload: text.encode('ping'), metadata: {} },
        { timeoutMs: 15_000 },
      )
      return decode.decode(reply.payload)
    },
    /** The counters the test asserts on. */
    metrics() {
      const m = host!.metrics()
      return {
        constructed,
        peerConnectionsCreated: m.webrtc.peerConnectionsCreated,
        hostLinks: m.mux.hostLinks,
        rejectedFrames: m.mux.rejectedFrames,
        virtualOpen: m.mux.virtualLinks.open,
        virtualLocal: m.mux.virtualLinks.local,
      }
    },
    async stop(): Promise<void> {
      await Promise.all(networks.map((n) => n.stop()))
      await host?.stop()
    },
  }
}

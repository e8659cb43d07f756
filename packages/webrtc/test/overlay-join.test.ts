/**
 * Signals through the signaling server per skip-graph join over WebRTC in Node (issue 15): today's signaling (every
 * signal through the server) against overlay signaling (the skip graph's signaler first, the server as fallback).
 * Each join is measured in two parts: the joiner's first connection (to its introducer; nothing else can carry its
 * signals yet) and the join itself (search, then the links to its neighbours at every level). Prints one JSON line
 * per mode. `OVERLAY_JOIN_N` sets the graph's size (8 in the suite; the figure is at 64).
 *
 * The skip graph is imported from its source: `@skipmesh/webrtc` does not depend on `@skipmesh/skipgraph`, and a
 * devDependency would make the two depend on each other (`packages/skipgraph/bench/webrtc-search.mjs` imports
 * `@skipmesh/webrtc`).
 */
import {
  type AbortOptions,
  createNetwork,
  generateKeyPair,
  Identifier,
  MembershipVector,
  type Network,
} from '@skipmesh/core'
import type { SignalingServer } from '@skipmesh/signaling-server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createSkipGraphNode,
  createSkipGraphSignaler,
  type SkipGraphNode,
  type SkipGraphSignaler,
} from '../../skipgraph/src/index.js'
import { createCompositeSignaling } from '../src/composite-signaling.js'
import { createWebRtcConnectionManager, type WebRtcConnectionManager } from '../src/manager.js'
import { createOverlaySignaling, type OverlaySignaling } from '../src/overlay-signaling.js'
import { createSignalingClient } from '../src/signaling-client.js'
import { implementations, startSignalingServer } from './helpers.js'

const N = Number(process.env.OVERLAY_JOIN_N ?? 8)
const impl = implementations['node-datachannel']

interface Member {
  readonly id: Identifier
  readonly manager: WebRtcConnectionManager
  readonly network: Network
  readonly node: SkipGraphNode
  readonly signaler: SkipGraphSignaler | undefined
  readonly overlay: OverlaySignaling | undefined
}

interface JoinFigures {
  /** Server signals (all nodes) of each joiner's first connection, joins 2..n. */
  firstConnection: number[]
  /** Server signals (all nodes) of each join after the first connection. */
  join: number[]
  /** Overlay signals (all nodes) of each join. */
  overlay: number[]
  /** Overlay routes that failed and went through the server. */
  fallbacks: number
  /**
   * Signed signals refused. Among honest nodes only replays: a signal whose overlay route timed out after all
   * delivered it, and whose copy through the server then came second.
   */
  refused: number
  /** Refused signals that were replays. */
  replays: number
  /** Signals the overlay delivered, the relays they passed (summed), and those that passed one relay at most. */
  delivered: number
  relays: number
  viaOneRelayAtMost: number
  /** Milliseconds per join (first connection included). */
  joinMs: number[]
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0)
const mean = (xs: readonly number[]): number => Math.round((sum(xs) / Math.max(1, xs.length)) * 100) / 100

describe('signals through the server per skip-graph join (WebRTC in Node)', () => {
  let server: SignalingServer
  beforeAll(async () => {
    server = await startSignalingServer()
  })
  afterAll(async () => {
    await server.close()
  })

  async function member(room: string, overlay: boolean): Promise<Member> {
    const keyPair = await generateKeyPair()
    const id = Identifier.fromPublicKey(keyPair.publicKey)
    const client = createSignalingClient({ url: server.url, room, localId: id, keyPair })
    const overlaySignaling = overlay ? createOverlaySignaling({ localId: id, keyPair }) : undefined
    const manager = createWebRtcConnectionManager({
      localId: id,
      keyPair,
      signaling:
        overlaySignaling === undefined
          ? client
          : createCompositeSignaling({ server: client, overlay: overlaySignaling }),
      rtc: { iceServers: [] },
      wrtc: impl(),
    })
    const network = createNetwork({ connectionManager: manager })
    network.start()
    await network.ready()
    const node = createSkipGraphNode({
      network,
      identity: { id, mv: MembershipVector.fromIdentifier(id) },
      probeIntervalMs: 0,
      mergeCheckMs: 0,
      requestTimeoutMs: 20_000,
      searchTimeoutMs: 30_000,
    })
    node.start()
    await node.ready()
    let signaler: SkipGraphSignaler | undefined
    if (overlaySignaling !== undefined) {
      signaler = createSkipGraphSignaler({
        network,
        openConnections: () => manager.connections().map((c) => c.remoteId),
      })
      signaler.start()
      await signaler.ready()
      overlaySignaling.attach(signaler)
    }
    return { id, manager, network, node, signaler, overlay: overlaySignaling }
  }

  async function measure(overlay: boolean): Promise<JoinFigures> {
    const room = `join-${overlay ? 'overlay' : 'server'}-${Math.random().toString(36).slice(2)}`
    const members: Member[] = []
    const serverSignals = () => sum(members.map((m) => m.manager.metrics().serverSignalsSent))
    const overlaySignals = () => sum(members.map((m) => m.manager.metrics().overlaySignalsSent))
    const figures: JoinFigures = {
      firstConnection: [],
      join: [],
      overlay: [],
      fallbacks: 0,
      refused: 0,
      replays: 0,
      joinMs: [],
      delivered: 0,
      relays: 0,
      viaOneRelayAtMost: 0,
    }
    const opts = (): AbortOptions => ({ signal: AbortSignal.timeout(120_000) })
    try {
      const first = await member(room, overlay)
      members.push(first)
      await first.node.join(undefined, opts())
      for (let i = 1; i < N; i++) {
        const introducer = members[(i * 5) % members.length]!
        const joiner = await member(room, overlay)
        members.push(joiner)
        const t0 = performance.now()
        const s0 = serverSignals()
        const step = (err: unknown): never => {
          throw new Error(`join ${i} of ${N} (${overlay ? 'overlay' : 'server only'}) failed`, { cause: err })
        }
        await joiner.manager.connect(introducer.id, opts()).catch(step)
        const s1 = serverSignals()
        const o1 = overlaySignals()
        await joiner.node.join(introducer.id, opts()).catch(step)
        figures.joinMs.push(Math.round(performance.now() - t0))
        figures.firstConnection.push(s1 - s0)
        figures.join.push(serverSignals() - s1)
        figures.overlay.push(overlaySignals() - o1)
      }
      figures.fallbacks = sum(members.map((m) => m.manager.metrics().overlayFallbacks))
      figures.refused = sum(members.map((m) => m.manager.metrics().signedSignalsRefused))
      for (const m of members) {
        const s = m.signaler?.metrics()
        figures.delivered += s?.signalsDelivered ?? 0
        figures.relays += s?.relaysOfDelivered ?? 0
        figures.viaOneRelayAtMost += s?.deliveredViaOneRelayAtMost ?? 0
        figures.replays += m.overlay?.refusals().replay ?? 0
      }
      if (process.env.OVERLAY_JOIN_DEBUG) {
        console.log(JSON.stringify(members.map((m) => m.signaler?.metrics())))
        console.log(JSON.stringify(figures))
      }
      return figures
    } finally {
      for (const m of members) {
        await m.signaler?.stop()
        await m.node.stop()
        await m.network.stop()
        await m.manager.stop()
      }
    }
  }

  it(
    `costs the server at most 4 signals per join after the first connection with overlay signaling (n = ${N})`,
    async () => {
      const report = (mode: string, f: JoinFigures) =>
        console.log(
          JSON.stringify({
            bench: 'server signals per join',
            mode,
            n: N,
            perJoin: mean(f.firstConnection.map((x, i) => x + f.join[i]!)),
            firstConnection: mean(f.firstConnection),
            afterFirstConnection: mean(f.join),
            afterFirstConnectionMax: Math.max(...f.join),
            overlayPerJoin: mean(f.overlay),
            fallbacks: f.fallbacks,
            relaysPerOverlaySignal: mean([f.relays / Math.max(1, f.delivered)]),
            overlaySignalsViaOneRelayAtMost: f.viaOneRelayAtMost,
            overlaySignalsDelivered: f.delivered,
            refused: f.refused,
            replays: f.replays,
            joinMsMean: mean(f.joinMs),
          }),
        )
      const today = await measure(false)
      report('server only (today)', today)
      const withOverlay = await measure(true)
      report('overlay first, server fallback', withOverlay)
      expect(withOverlay.refused - withOverlay.replays).toBe(0)
      expect(mean(withOverlay.join)).toBeLessThanOrEqual(4)
      expect(sum(withOverlay.join)).toBeLessThan(sum(today.join))
    },
    Math.max(120_000, N * 20_000),
  )
})

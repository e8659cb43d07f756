/**
 * skipmesh nodes in this page: `createNetwork` over a `WebRtcConnectionManager`, driven by name from the test
 * process. Every processor records what arrived (origin, size, sequence number, SHA-256, arrival time).
 *
 * @module
 */
import {
  type Conduit,
  channel as toChannel,
  createMsgpackCodec,
  createNetwork,
  generateKeyPair,
  Identifier,
  type Network,
} from '@skipmesh/core'
import {
  createWebRtcConnectionManager,
  type WebRtcConnectionManager,
  type WrtcImplementation,
} from '@skipmesh/webrtc'
import { createDriver, type Driver, epochNow, type Pipe, serveSink } from '../../../bench/measure.mjs'
import type { ManagerSpec } from './remote.js'
import { patternBytes, sha256Hex, toWireError, type WireError } from './wire.js'

/** One arrived message as the test sees it. */
export interface Received {
  origin: string
  size: number
  /** The big-endian uint32 in the first 4 bytes, or -1 for shorter payloads. */
  seq: number
  at: number
  sha256?: string
  metadata: Record<string, string>
}

interface Recorder {
  records: Received[]
  hashes: Array<Promise<string>>
  waiters: Array<{ n: number; resolve: () => void }>
  hash: boolean
}

interface Node {
  network: Network
  manager: WebRtcConnectionManager
  conduits: Map<string, Conduit>
  recorders: Map<string, Recorder>
  closes: Array<{ remote: string; reason: string | null; detail?: string; at: number }>
  closeWaiters: Array<() => void>
  pipes: Map<string, { handler: (bytes: Uint8Array) => void; driver?: Driver }>
}

function seqOf(bytes: Uint8Array): number {
  return bytes.length >= 4 ? new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0) : -1
}

/**
 * The skipmesh nodes of this page (or of the Node test process, with `wrtc`), by name.
 * @param defaults.wrtc the WebRTC implementation where there is no global one (Node).
 */
export function createMesh(defaults: { wrtc?: WrtcImplementation } = {}) {
  const nodes = new Map<string, Node>()
  const node = (name: string): Node => {
    const n = nodes.get(name)
    if (n === undefined) throw new Error(`no node ${name}`)
    return n
  }
  const conduit = (name: string, ch: string): Conduit => {
    const c = node(name).conduits.get(ch)
    if (c === undefined) throw new Error(`${name} has no conduit on ${ch}`)
    return c
  }

  return {
    /** Starts a node (network + WebRTC manager joined to the room); resolves with its id. */
    async start(name: string, spec: Omit<ManagerSpec, 'id'> & { id?: string }): Promise<string> {
      const manager = createWebRtcConnectionManager({
        localId: spec.id === undefined ? Identifier.random() : Identifier.fromHex(spec.id),
        keyPair: await generateKeyPair(),
        signaling: { url: spec.url, room: spec.room },
        rtc: spec.rtc ?? { iceServers: [] },
        ...(defaults.wrtc === undefined ? {} : { wrtc: defaults.wrtc }),
        ...spec.tuning,
      })
      const network = createNetwork({ connectionManager: manager })
      const n: Node = {
        network,
        manager,
        conduits: new Map(),
        recorders: new Map(),
        closes: [],
        closeWaiters: [],
        pipes: new Map(),
      }
      manager.on('connection', (conn) => {
        conn.on('close', (reason) => {
          const at = epochNow()
          const remote = conn.remoteId.toHex()
          n.closes.push(
            reason === undefined
              ? { remote, reason: null, at }
              : { remote, reason: reason.name, detail: reason.message, at },
          )
          for (const w of n.closeWaiters.splice(0)) w()
        })
      })
      nodes.set(name, n)
      network.start()
      await network.ready()
      return manager.localId.toHex()
    },

    /** Registers a recording processor on `ch`; `hash` computes each payload's SHA-256. */
    async register(name: string, ch: string, options: { hash?: boolean } = {}): Promise<void> {
      const n = node(name)
      const rec: Recorder = { records: [], hashes: [], waiters: [], hash: options.hash ?? true }
      n.recorders.set(ch, rec)
      const c = await n.network.register(toChannel(ch), {
        processIncomingMessage(_channel, origin, message) {
          const r: Received = {
            origin: origin.toHex(),
            size: message.payload.length,
            seq: seqOf(message.payload),
            at: epochNow(),
            metadata: { ...message.metadata },
          }
          rec.records.push(r)
          if (rec.hash) rec.hashes.push(sha256Hex(message.payload.slice()))
          for (let i = rec.waiters.length - 1; i >= 0; i--) {
            if (rec.records.length >= rec.waiters[i]!.n) rec.waiters.splice(i, 1)[0]!.resolve()
          }
        },
      })
      n.conduits.set(ch, c)
    },

    /** Sends one pattern payload (`size` bytes from `seed`); resolves with its SHA-256 once sent. */
    async send(
      name: string,
      ch: string,
      to: string,
      payload: { size: number; seed?: number; seq?: number; metadata?: Record<string, string> },
    ): Promise<string> {
      const bytes = patternBytes(payload.size, payload.seed ?? payload.size + 1)
      if (payload.seq !== undefined && bytes.length >= 4) new DataView(bytes.buffer).setUint32(0, payload.seq)
      const hash = await sha256Hex(bytes)
      await conduit(name, ch).send(Identifier.fromHex(to), {
        payload: bytes,
        metadata: payload.metadata ?? {},
      })
      return hash
    },

    /** The outcome of sending `payload`: `null` when it was sent, else the error. */
    async trySend(name: string, ch: string, to: string, size: number): Promise<WireError | null> {
      try {
        await conduit(name, ch).send(Identifier.fromHex(to), { payload: new Uint8Array(size), metadata: {} })
        return null
      } catch (err) {
        return toWireError(err)
      }
    },

    /**
     * Issues `count` sends of `size` bytes (payload i carries i in its first 4 bytes) in one synchronous loop,
     * without awaiting any, then waits for all of them; resolves with the errors' names (none expected).
     */
    async burst(name: string, ch: string, to: string, count: number, size: number): Promise<string[]> {
      const c = conduit(name, ch)
      const dest = Identifier.fromHex(to)
      // the payloads are made before the first send (which dials): allocating hundreds of MiB inside the send
      // loop blocks the page for seconds under load, starving the dial's negotiation (as in the Node test)
      const payloads = Array.from({ length: count }, (_, i) => {
        const payload = new Uint8Array(size)
        new DataView(payload.buffer).setUint32(0, i)
        return payload
      })
      const sends = payloads.map((payload) => c.send(dest, { payload, metadata: {} }))
      const settled = await Promise.allSettled(sends)
      return settled.flatMap((s) => (s.status === 'rejected' ? [toWireError(s.reason).name] : []))
    },

    /**
     * The Connection-level drain check: `count` `Connection.send`s of envelopes (as the network would make them,
     * payload i carrying i) on the open connection to `to`, then `close()` in the same task, before any send
     * resolved. Resolves with the sends' error names (none expected: a graceful close delivers what was sent).
     */
    async sendThenClose(
      name: string,
      ch: string,
      to: string,
      count: number,
      size: number,
    ): Promise<string[]> {
      const n = node(name)
      const conn = n.manager.connections().find((c) => c.remoteId.toHex() === to)
      if (conn === undefined) throw new Error(`${name} has no open connection to ${to.slice(0, 8)}`)
      const codec = createMsgpackCodec()
      const channel = toChannel(ch)
      const sends: Array<Promise<void>> = []
      for (let i = 0; i < count; i++) {
        const payload = new Uint8Array(size)
        new DataView(payload.buffer).setUint32(0, i)
        const envelope = { channel, sender: n.manager.localId, payload, metadata: {}, timestamp: Date.now() }
        sends.push(conn.send(channel, codec.encode(envelope)))
      }
      const closed = conn.close()
      const settled = await Promise.allSettled(sends)
      await closed
      return settled.flatMap((s) => (s.status === 'rejected' ? [toWireError(s.reason).name] : []))
    },

    /** Sends to every destination at once through `broadcast`; one `ok` per destination. */
    async broadcast(name: string, ch: string, to: string[], size: number): Promise<boolean[]> {
      const results = await conduit(name, ch).broadcast(
        to.map((t) => Identifier.fromHex(t)),
        { payload: patternBytes(size, 7), metadata: {} },
      )
      return results.map((r) => r.ok)
    },

    /** Resolves once `count` messages arrived on `ch` (rejects after `timeoutMs`). */
    waitFor(name: string, ch: string, count: number, timeoutMs: number): Promise<number> {
      const rec = node(name).recorders.get(ch)
      if (rec === undefined) throw new Error(`${name} has no recorder on ${ch}`)
      if (rec.records.length >= count) return Promise.resolve(rec.records.length)
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(`${name}/${ch}: ${rec.records.length} of ${count} messages after ${timeoutMs} ms`),
            ),
          timeoutMs,
        )
        rec.waiters.push({
          n: count,
          resolve: () => {
            clearTimeout(timer)
            resolve(rec.records.length)
          },
        })
      })
    },

    /** Everything recorded on `ch`, SHA-256s resolved. */
    async received(name: string, ch: string): Promise<Received[]> {
      const rec = node(name).recorders.get(ch)
      if (rec === undefined) throw new Error(`${name} has no recorder on ${ch}`)
      const hashes = await Promise.all(rec.hashes)
      return rec.records.map((r, i) => (hashes[i] === undefined ? r : { ...r, sha256: hashes[i] }))
    },

    /** A compact summary of `ch`: count, and whether sequence numbers rose by one per origin. */
    summary(name: string, ch: string): { count: number; inOrder: boolean; origins: Record<string, number> } {
      const rec = node(name).recorders.get(ch)
      if (rec === undefined) throw new Error(`${name} has no recorder on ${ch}`)
      const last = new Map<string, number>()
      let inOrder = true
      for (const r of rec.records) {
        const prev = last.get(r.origin) ?? -1
        if (r.seq !== prev + 1) inOrder = false
        last.set(r.origin, r.seq)
      }
      const origins: Record<string, number> = {}
      for (const r of rec.records) origins[r.origin] = (origins[r.origin] ?? 0) + 1
      return { count: rec.records.length, inOrder, origins }
    },

    /** The manager's open connections. */
    connections(name: string): Array<{ remote: string; status: string }> {
      return node(name)
        .manager.connections()
        .map((c) => ({ remote: c.remoteId.toHex(), status: c.status }))
    },

    /** Every `'close'` seen on this node's connections. */
    closes(name: string) {
      return node(name).closes
    },

    /** Resolves with the first `'close'` of a connection to `remote` (rejects after `timeoutMs`). */
    waitClose(
      name: string,
      remote: string,
      timeoutMs: number,
    ): Promise<{ remote: string; reason: string | null; detail?: string; at: number }> {
      const n = node(name)
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const found = n.closes.find((c) => c.remote === remote)
          if (found === undefined) return false
          clearTimeout(timer)
          resolve(found)
          return true
        }
        const timer = setTimeout(
          () => reject(new Error(`${name}: no close from ${remote.slice(0, 8)} in ${timeoutMs} ms`)),
          timeoutMs,
        )
        const wait = (): void => {
          if (!check()) n.closeWaiters.push(wait)
        }
        wait()
      })
    },

    /** Network and manager counters. */
    metrics(name: string) {
      const n = node(name)
      return { network: n.network.metrics(), manager: n.manager.metrics() }
    },

    /** Makes `ch` a measurement pipe to `peer` (`role` as in bench/measure.mjs). */
    async pipe(name: string, ch: string, peer: string, role: 'driver' | 'sink'): Promise<void> {
      const n = node(name)
      const dest = Identifier.fromHex(peer)
      const slot: { handler: (bytes: Uint8Array) => void; driver?: Driver } = { handler: () => {} }
      n.pipes.set(ch, slot)
      const c = await n.network.register(toChannel(ch), {
        processIncomingMessage: (_channel, _origin, message) => slot.handler(message.payload),
      })
      const pipe: Pipe = {
        send: (bytes) => c.send(dest, { payload: bytes, metadata: {} }),
        onMessage: (handler) => {
          slot.handler = handler
        },
      }
      if (role === 'sink') serveSink(pipe)
      else slot.driver = createDriver(pipe)
    },

    bulk(name: string, ch: string, size: number, count: number) {
      const d = node(name).pipes.get(ch)?.driver
      if (d === undefined) throw new Error(`${name}/${ch} is not a driver`)
      return d.bulk(size, count)
    },

    rtt(name: string, ch: string, size: number, samples: number) {
      const d = node(name).pipes.get(ch)?.driver
      if (d === undefined) throw new Error(`${name}/${ch} is not a driver`)
      return d.rtt(size, samples)
    },

    /** Epoch ms just before a send that has to dial first (for connect-to-first-message timing). */
    async timedFirstSend(name: string, ch: string, to: string): Promise<number> {
      const c = conduit(name, ch)
      const t0 = epochNow()
      await c.send(Identifier.fromHex(to), { payload: Uint8Array.of(0, 0, 0, 0), metadata: {} })
      return t0
    },

    async stop(name: string): Promise<void> {
      await nodes.get(name)?.network.stop()
      nodes.delete(name)
    },
  }
}

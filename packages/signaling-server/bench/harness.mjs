// The client harness shared by the benchmarks (run.mjs: skipmesh against PeerJS; redis.mjs: Redis scale-out):
// server children, raw WebSocket clients speaking each server's wire protocol, and the relay loop. One helper per
// idea; nothing here runs on import.
import { fork } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { Identifier } from '@skipmesh/core'
import { bytesToHex } from '@skipmesh/core/internal'
import { challengeBytes } from '@skipmesh/signaling-protocol'
import { WebSocket } from 'ws'

/** Signals each client keeps in flight. */
export const WINDOW = 2

/** The payload of every signal: an ICE candidate object (~200 bytes of JSON). */
export const CANDIDATE = {
  candidate:
    'candidate:842163049 1 udp 1677729535 192.0.2.10 50000 typ srflx raddr 0.0.0.0 rport 0 generation 0 ufrag EsAw network-cost 999',
  sdpMLineIndex: 0,
  sdpMid: '0',
}

/** How the payload is described in the reports. */
export const PAYLOAD = 'an ICE candidate object (~200 bytes JSON)'

/** The machine a report was measured on, with the load average before (`loadBefore`) and now. */
export function machine(loadBefore) {
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    node: process.version,
    loadAverageBefore: loadBefore.map((x) => +x.toFixed(2)),
    loadAverageAfter: loadavg().map((x) => +x.toFixed(2)),
  }
}

/**
 * Forks one server under benchmark (server-child.mjs) with `args`; resolves with the child and its port.
 * BENCH_CPU_PROF=<dir>: write a V8 CPU profile of each server process there (for looking at hot paths).
 */
export function startServer(...args) {
  const execArgv = process.env.BENCH_CPU_PROF
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
    : []
  const child = fork(fileURLToPath(new URL('./server-child.mjs', import.meta.url)), args, {
    stdio: 'inherit',
    execArgv,
  })
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ child, port: m.port }))
    child.once('exit', (code) => reject(new Error(`${args[0]} server exited with ${code}`)))
  })
}

/** Stops a server child (it closes its server, at most 2 s) and waits for it to exit. */
export async function stopServer(child) {
  const exited = new Promise((r) => child.once('exit', r))
  child.send('stop')
  await exited
}

/** Sends `msg` to a server child and resolves with its answer. */
export function ask(child, msg) {
  return new Promise((resolve) => {
    child.once('message', resolve)
    child.send(msg)
  })
}

/** The server child's CPU time (user + system), in ms. */
export async function cpuMs(child) {
  const { cpu } = await ask(child, 'cpu')
  return (cpu.user + cpu.system) / 1000
}

/** Opens a WebSocket; `onMessage` is attached before the handshake, so no early message is missed. */
function openWs(url, onMessage) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false })
    ws.on('message', (raw) => onMessage(ws, raw))
    ws.once('open', () => resolve(ws))
    ws.once('error', reject)
  })
}

/** A minimal Socket.IO v5 / engine.io v4 client over one WebSocket: events with acks, pong on ping. */
async function socketIoClient(port) {
  const acks = new Map()
  const handlers = new Map()
  let nextAck = 0
  let connected
  const ready = new Promise((r) => {
    connected = r
  })
  const ws = await openWs(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`, (ws, raw) => {
    const text = raw.toString()
    if (text === '2') return ws.send('3')
    if (text.startsWith('0')) return ws.send('40') // engine.io open: connect the main namespace
    if (text.startsWith('40')) return connected()
    if (text.startsWith('43')) {
      const m = /^43(\d+)(.*)$/s.exec(text)
      const cb = acks.get(Number(m[1]))
      acks.delete(Number(m[1]))
      cb?.(JSON.parse(m[2])[0])
      return
    }
    if (text.startsWith('42')) {
      const [event, payload] = JSON.parse(text.slice(2))
      handlers.get(event)?.(payload)
    }
  })
  await ready
  return {
    emit(event, payload, cb) {
      if (cb === undefined) return ws.send(`42${JSON.stringify([event, payload])}`)
      const id = nextAck++
      acks.set(id, cb)
      ws.send(`42${id}${JSON.stringify([event, payload])}`)
    },
    call(event, payload) {
      return new Promise((r) => this.emit(event, payload, r))
    },
    on(event, fn) {
      handlers.set(event, fn)
    },
    close: () => ws.close(),
  }
}

/** A skipmesh client: joined and authenticated (Ed25519 challenge) in `room`; signals with or without acks. */
export async function skipmeshPeer(port, room, keys, withAck) {
  const id = Identifier.random().toHex()
  const c = await socketIoClient(port)
  const joined = await c.call('join', { room, id, publicKey: bytesToHex(keys.publicKey) })
  if (!joined.ok) throw new Error(`join: ${joined.error.code}`)
  const signature = await keys.sign(challengeBytes(room, id, joined.challenge))
  const auth = await c.call('authenticate', { signature: bytesToHex(signature) })
  if (!auth.ok) throw new Error(`authenticate: ${auth.error.code}`)
  let refused = 0
  c.on('signal-refused', () => {
    refused++
  })
  return {
    id,
    /**
     * Relays `data` to `to` under `session` ('bench' unless given); `onAck` gets the ack when `ack` (`withAck`
     * unless given). Without an ack the server answers only a refusal (`signal-refused`, counted in `refused`).
     */
    send(to, data, onAck, session = 'bench', ack = withAck) {
      c.emit('signal', { to, session, data }, ack ? onAck : undefined)
    },
    /** Refusals the server pushed for signals sent without an ack. */
    refused: () => refused,
    onSignal(fn) {
      c.on('signal', (s) => fn(s.from, s.data, s.session))
    },
    close: () => c.close(),
  }
}

/** A PeerJS client: `CANDIDATE` messages with `dst` (no ack in its protocol). */
export async function peerjsPeer(port) {
  const id = Identifier.random().toHex()
  let handler = () => {}
  let onMessage = () => {}
  let opened
  const open = new Promise((r) => {
    opened = r
  })
  const token = Math.random().toString(36).slice(2)
  const ws = await openWs(`ws://127.0.0.1:${port}/peerjs?key=peerjs&id=${id}&token=${token}`, (_ws, raw) => {
    const m = JSON.parse(raw.toString())
    if (m.type === 'CANDIDATE' || m.type === 'OFFER' || m.type === 'ANSWER') {
      handler(m.src, m.payload)
      onMessage(m.type, m.src, m.payload)
    } else opened(m)
  })
  const first = await open
  if (first.type !== 'OPEN') throw new Error(`peerjs: ${JSON.stringify(first)}`)
  return {
    id,
    send(to, data, onAck) {
      ws.send(JSON.stringify({ type: 'CANDIDATE', dst: to, payload: data }))
      onAck?.({ ok: true })
    },
    onSignal(fn) {
      handler = fn
    },
    /** Sends a PeerJS message of `type` (OFFER, ANSWER, CANDIDATE) to `dst`. */
    sendMessage(type, dst, payload) {
      ws.send(JSON.stringify({ type, dst, payload }))
    },
    /** `fn(type, src, payload)` gets every OFFER, ANSWER and CANDIDATE. */
    onMessage(fn) {
      onMessage = fn
    },
    close: () => ws.close(),
  }
}

/** Makes `n` things, `size` at a time. */
export async function inBatches(n, size, make) {
  const out = []
  for (let i = 0; i < n; i += size) {
    out.push(...(await Promise.all(Array.from({ length: Math.min(size, n - i) }, (_, k) => make(i + k)))))
  }
  return out
}

/** The `p`th percentile of an ascending array. */
export function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

/**
 * The relay loop: every peer sends `floor(signals / peers)` signals round-robin to the other peers of its room
 * (`roomOf(i)`), keeping {@link WINDOW} in flight (it sends the next when one of its signals is delivered); ends
 * when all are delivered or after `timeoutMs`. Latency is send-to-delivery on one clock. With `classify(sender,
 * receiver)`, also returns the latencies of each class (e.g. same or other server instance).
 */
export async function relay(peers, { signals, roomOf, timeoutMs = 60_000, classify }) {
  const clients = peers.length
  const byId = new Map(peers.map((p, i) => [p.id, i]))
  const targets = peers.map((_, i) =>
    peers.flatMap((_p, j) => (j !== i && roomOf(j) === roomOf(i) ? [j] : [])),
  )
  const quota = Math.floor(signals / clients)
  const total = quota * clients
  const sent = new Int32Array(clients)
  const latencies = new Float64Array(total)
  const classes = new Map()
  let delivered = 0
  let refused = 0
  let done
  const finished = new Promise((r) => {
    done = r
  })
  const sendNext = (i) => {
    if (sent[i] >= quota) return
    const n = sent[i]++
    const to = targets[i][n % targets[i].length]
    peers[i].send(peers[to].id, { ...CANDIDATE, n, t: performance.now() }, (ack) => {
      if (!ack.ok) refused++
    })
  }
  peers.forEach((p, receiver) => {
    p.onSignal((from, data) => {
      const latency = performance.now() - data.t
      latencies[delivered++] = latency
      const sender = byId.get(from)
      if (classify !== undefined) {
        const key = classify(sender, receiver)
        if (!classes.has(key)) classes.set(key, [])
        classes.get(key).push(latency)
      }
      if (delivered === total) done()
      sendNext(sender)
    })
  })
  const start = performance.now()
  for (let w = 0; w < WINDOW; w++) for (let i = 0; i < clients; i++) sendNext(i)
  const timeout = setTimeout(() => done(), timeoutMs)
  await finished
  clearTimeout(timeout)
  const seconds = (performance.now() - start) / 1000
  return { total, delivered, refused, seconds, latencies: latencies.slice(0, delivered).sort(), classes }
}

/**
 * Which scenarios, kinds and repetitions to run: all of them, or a quick look (`quick`: write no document) chosen
 * with BENCH_KINDS, BENCH_CLIENTS (comma-separated) and BENCH_REPS (2 by default).
 */
export function selection(allKinds, allScenarios) {
  const env = process.env
  return {
    quick: ['BENCH_KINDS', 'BENCH_CLIENTS', 'BENCH_REPS'].some((k) => env[k] !== undefined),
    kinds: env.BENCH_KINDS?.split(',') ?? allKinds,
    scenarios: allScenarios.filter(
      (s) => env.BENCH_CLIENTS === undefined || env.BENCH_CLIENTS.split(',').includes(String(s.clients)),
    ),
    reps: Number(env.BENCH_REPS ?? 2),
  }
}

/**
 * Runs `scenario(kind, s)` for each scenario `reps` times, the kinds in alternating order (the machine is shared:
 * noise and warm-up hit every kind alike); prints each run as a JSON line and returns them all, with `rep`.
 */
export async function alternate({ scenarios, kinds, reps }, scenario) {
  const runs = []
  for (const s of scenarios) {
    for (let rep = 0; rep < reps; rep++) {
      for (const kind of rep % 2 === 0 ? kinds : [...kinds].reverse()) {
        const r = { ...(await scenario(kind, s)), rep }
        console.log(JSON.stringify(r))
        runs.push(r)
      }
    }
  }
  return runs
}

/**
 * Writes the documents of one benchmark: docs/benchmarks/<name>.json (`{ date, machine, ...fields }`, the load
 * average measured from `loadBefore` to now) and <name>.md (`markdown(report)`); returns the markdown.
 */
export function writeDocuments(name, loadBefore, fields, markdown) {
  const report = { date: new Date().toISOString(), machine: machine(loadBefore), ...fields }
  const dir = fileURLToPath(new URL('../../../docs/benchmarks/', import.meta.url))
  mkdirSync(dir, { recursive: true })
  writeFileSync(`${dir}${name}.json`, `${JSON.stringify(report, null, 2)}\n`)
  const md = markdown(report)
  writeFileSync(`${dir}${name}.md`, md)
  return md
}

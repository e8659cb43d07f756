// Benchmark: N clients in rooms of 10 relay signals to each other through the skipmesh signaling server and
// through PeerJS's server (`peer`), same machine, same run, same load generator (raw WebSocket clients speaking
// each server's wire protocol, so the clients cost the same and the servers are what is measured).
// Writes docs/benchmarks/signaling-server.{json,md}. Run: npm run bench (needs `tsc -b` first).
// For a quick look while working on the server: BENCH_KINDS=skipmesh-noack,peerjs BENCH_CLIENTS=1000 BENCH_REPS=1
// runs only those and prints the runs without writing the documents.
import { fork } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { generateKeyPair, Identifier } from '@skipmesh/core'
import { WebSocket } from 'ws'
import { bytesToHex } from '@skipmesh/core/internal'
import { challengeBytes } from '@skipmesh/signaling-protocol'

const ROOM_SIZE = 10
const WINDOW = 2 // signals each client keeps in flight
const ALL_KINDS = ['skipmesh', 'skipmesh-noack', 'peerjs']
const QUICK = ['BENCH_KINDS', 'BENCH_CLIENTS', 'BENCH_REPS'].some((k) => process.env[k] !== undefined)
const KINDS = process.env.BENCH_KINDS?.split(',') ?? ALL_KINDS
const SCENARIOS = [
  { clients: 100, signals: 15_000 },
  { clients: 1000, signals: 30_000 },
].filter(
  (s) =>
    process.env.BENCH_CLIENTS === undefined ||
    process.env.BENCH_CLIENTS.split(',').includes(String(s.clients)),
)
const CANDIDATE = {
  candidate:
    'candidate:842163049 1 udp 1677729535 192.0.2.10 50000 typ srflx raddr 0.0.0.0 rport 0 generation 0 ufrag EsAw network-cost 999',
  sdpMLineIndex: 0,
  sdpMid: '0',
}
const outDir = fileURLToPath(new URL('../../../docs/benchmarks/', import.meta.url))

function startServer(kind) {
  // BENCH_CPU_PROF=<dir>: write a V8 CPU profile of each server process there (for looking at hot paths)
  const execArgv = process.env.BENCH_CPU_PROF
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
    : []
  const child = fork(fileURLToPath(new URL('./server-child.mjs', import.meta.url)), [kind], {
    stdio: 'inherit',
    execArgv,
  })
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ child, port: m.port }))
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)))
  })
}

function ask(child, msg) {
  return new Promise((resolve) => {
    child.once('message', resolve)
    child.send(msg)
  })
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

async function skipmeshPeer(port, room, keys, withAck) {
  const id = Identifier.random().toHex()
  const c = await socketIoClient(port)
  const joined = await c.call('join', { room, id, publicKey: bytesToHex(keys.publicKey) })
  if (!joined.ok) throw new Error(`join: ${joined.error.code}`)
  const signature = await keys.sign(challengeBytes(room, id, joined.challenge))
  const auth = await c.call('authenticate', { signature: bytesToHex(signature) })
  if (!auth.ok) throw new Error(`authenticate: ${auth.error.code}`)
  return {
    id,
    send(to, data, onAck) {
      c.emit('signal', { to, session: 'bench', data }, withAck ? onAck : undefined)
    },
    onSignal(fn) {
      c.on('signal', (s) => fn(s.from, s.data))
    },
    close: () => c.close(),
  }
}

async function peerjsPeer(port) {
  const id = Identifier.random().toHex()
  let handler = () => {}
  let opened
  const open = new Promise((r) => {
    opened = r
  })
  const token = Math.random().toString(36).slice(2)
  const ws = await openWs(`ws://127.0.0.1:${port}/peerjs?key=peerjs&id=${id}&token=${token}`, (_ws, raw) => {
    const m = JSON.parse(raw.toString())
    if (m.type === 'CANDIDATE' || m.type === 'OFFER') handler(m.src, m.payload)
    else opened(m)
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
    close: () => ws.close(),
  }
}

async function inBatches(n, size, make) {
  const out = []
  for (let i = 0; i < n; i += size) {
    out.push(...(await Promise.all(Array.from({ length: Math.min(size, n - i) }, (_, k) => make(i + k)))))
  }
  return out
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

async function scenario(kind, { clients, signals }) {
  const { child, port } = await startServer(kind === 'peerjs' ? 'peerjs' : 'skipmesh')
  try {
    const keys = await generateKeyPair()
    const t0 = performance.now()
    const peers = await inBatches(clients, 50, (i) => {
      const room = `room-${Math.floor(i / ROOM_SIZE)}`
      return kind === 'peerjs' ? peerjsPeer(port) : skipmeshPeer(port, room, keys, kind === 'skipmesh')
    })
    const connectSeconds = (performance.now() - t0) / 1000
    console.error(`bench: ${kind} ${clients} connected in ${connectSeconds.toFixed(1)} s`)
    const byId = new Map(peers.map((p, i) => [p.id, i]))
    const roomOf = (i) => Math.floor(i / ROOM_SIZE)
    const targets = peers.map((_, i) =>
      peers.filter((_, j) => j !== i && roomOf(j) === roomOf(i)).map((p) => p.id),
    )
    const quota = Math.floor(signals / clients)
    const total = quota * clients
    const sent = new Int32Array(clients)
    const latencies = new Float64Array(total)
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
      peers[i].send(to, { ...CANDIDATE, n, t: performance.now() }, (ack) => {
        if (!ack.ok) refused++
      })
    }
    for (const p of peers) {
      p.onSignal((from, data) => {
        latencies[delivered++] = performance.now() - data.t
        if (delivered === total) done()
        sendNext(byId.get(from))
      })
    }
    const cpuBefore = (await ask(child, 'cpu')).cpu
    const start = performance.now()
    for (let w = 0; w < WINDOW; w++) for (let i = 0; i < clients; i++) sendNext(i)
    const timeout = setTimeout(() => done(), 60_000)
    await finished
    clearTimeout(timeout)
    const seconds = (performance.now() - start) / 1000
    const cpuAfter = (await ask(child, 'cpu')).cpu
    const serverCpuMs = (cpuAfter.user + cpuAfter.system - cpuBefore.user - cpuBefore.system) / 1000
    const sorted = latencies.slice(0, delivered).sort()
    for (const p of peers) p.close()
    return {
      server: kind,
      clients,
      rooms: Math.ceil(clients / ROOM_SIZE),
      signals: total,
      delivered,
      refused,
      window: WINDOW,
      connectSeconds: +connectSeconds.toFixed(2),
      seconds: +seconds.toFixed(3),
      signalsPerSecond: Math.round(delivered / seconds),
      p50Ms: +percentile(sorted, 50).toFixed(2),
      p99Ms: +percentile(sorted, 99).toFixed(2),
      serverCpuUsPerSignal: +((serverCpuMs * 1000) / delivered).toFixed(1),
    }
  } finally {
    child.send('stop')
    await new Promise((r) => child.once('exit', r))
  }
}

console.error('bench: start')
// Two repetitions in alternating order (the machine is shared: noise and warm-up hit both servers alike); the
// table keeps each server's better repetition, the JSON keeps every run.
const REPS = Number(process.env.BENCH_REPS ?? 2)
const runs = []
const loadBefore = loadavg()
for (const s of SCENARIOS) {
  for (let rep = 0; rep < REPS; rep++) {
    for (const kind of rep % 2 === 0 ? KINDS : [...KINDS].reverse()) {
      const r = { ...(await scenario(kind, s)), rep }
      console.log(JSON.stringify(r))
      runs.push(r)
    }
  }
}
if (QUICK) process.exit(0)
const results = []
for (const s of SCENARIOS) {
  for (const kind of ['skipmesh', 'skipmesh-noack', 'peerjs']) {
    const mine = runs.filter((r) => r.server === kind && r.clients === s.clients)
    results.push(mine.reduce((a, b) => (b.signalsPerSecond > a.signalsPerSecond ? b : a)))
  }
}
const ratio = (a, b) => +(a / b).toFixed(2)
const ratios = SCENARIOS.map(({ clients }) => {
  const pick = (server) => results.find((r) => r.server === server && r.clients === clients)
  const [a, n, b] = [pick('skipmesh'), pick('skipmesh-noack'), pick('peerjs')]
  const of = (x) => ({
    throughput: ratio(x.signalsPerSecond, b.signalsPerSecond),
    p50: ratio(x.p50Ms, b.p50Ms),
    p99: ratio(x.p99Ms, b.p99Ms),
    cpuPerSignal: ratio(x.serverCpuUsPerSignal, b.serverCpuUsPerSignal),
  })
  return { clients, ...of(a), noAck: of(n) }
})
const report = {
  date: new Date().toISOString(),
  machine: {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    node: process.version,
    loadAverageBefore: loadBefore.map((x) => +x.toFixed(2)),
    loadAverageAfter: loadavg().map((x) => +x.toFixed(2)),
  },
  method: {
    roomSize: ROOM_SIZE,
    windowPerClient: WINDOW,
    payload: 'an ICE candidate object (~200 bytes JSON)',
    clients: 'raw WebSocket clients in the benchmark process, each server in its own child process',
    skipmesh:
      'Socket.IO websocket transport, join + Ed25519 authenticate, signal with ack; rate limit lifted',
    peerjs: 'peer@1.0.2 PeerServer, CANDIDATE messages with dst (no ack in its protocol)',
  },
  results,
  ratios,
  runs,
}
mkdirSync(outDir, { recursive: true })
writeFileSync(`${outDir}signaling-server.json`, `${JSON.stringify(report, null, 2)}\n`)
const rows = results.map(
  (r) =>
    `| ${r.server} | ${r.clients} | ${r.rooms} | ${r.signals} | ${r.signalsPerSecond} | ${r.p50Ms} | ${r.p99Ms} | ${r.serverCpuUsPerSignal} | ${r.connectSeconds} |`,
)
const ratioRows = ratios.map(
  (x) =>
    `| ${x.clients} | ${x.throughput} (${x.noAck.throughput}) | ${x.p50} (${x.noAck.p50}) | ${x.p99} (${x.noAck.p99}) | ${x.cpuPerSignal} (${x.noAck.cpuPerSignal}) |`,
)
const md = `# Signaling server benchmark

Generated by \`npm run bench -w @skipmesh/signaling-server\` on ${report.date} (${report.machine.cpus} CPUs, ${report.machine.cpuModel}, Node ${report.machine.node}; load average ${report.machine.loadAverageBefore[0]} before, ${report.machine.loadAverageAfter[0]} after: the machine was shared, so treat absolute figures as noisy and the ratios as the result).

N clients in rooms of ${ROOM_SIZE} relay signals (an ICE candidate object, ~200 bytes of JSON) to the other peers of
their room, round-robin, each client keeping ${WINDOW} signals in flight (it sends the next one when one of its
signals is delivered). Latency is send-to-delivery on one clock (all clients live in the benchmark process). Each
server runs alone in a child process; the clients are raw WebSocket clients speaking each server's wire protocol,
so client cost is the same for both and the servers are what is compared. skipmesh clients joined and
authenticated (Ed25519 challenge) first and every signal is validated and acknowledged; skipmesh's per-socket
rate limit (200 requests/s by default) is lifted for the run. PeerJS relays \`CANDIDATE\` messages with \`dst\` and
has no acknowledgement, validation, identity proof or rooms. \`skipmesh-noack\` is the same skipmesh server with
clients that emit signals without an ack callback (the protocol allows it; the server then writes no ack), which
separates the cost of the acknowledgement (one more WebSocket write per signal) from the rest. Each configuration
ran ${REPS} times in alternating order; the table shows each server's better run (every run is in the JSON).

| server | clients | rooms | signals | relayed signals/s | p50 ms | p99 ms | server CPU µs/signal | connect s |
|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}

Ratio skipmesh / PeerJS, with acks (and without, in parentheses); throughput > 1 is better for skipmesh, latency
and CPU < 1 are better for skipmesh:

| clients | throughput | p50 latency | p99 latency | CPU per signal |
|---|---|---|---|---|
${ratioRows.join('\n')}
`
writeFileSync(`${outDir}signaling-server.md`, md)
console.log(md)

// Benchmark: N clients in rooms of 10 relay signals to each other through the skipmesh signaling server and
// through PeerJS's server (`peer`), same machine, same run, same load generator (raw WebSocket clients speaking
// each server's wire protocol, so the clients cost the same and the servers are what is measured).
// Writes docs/benchmarks/signaling-server.{json,md}. Run: npm run bench (needs `tsc -b` first).
// For a quick look while working on the server: BENCH_KINDS=skipmesh-noack,peerjs BENCH_CLIENTS=1000 BENCH_REPS=1
// runs only those and prints the runs without writing the documents.
import { mkdirSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { generateKeyPair } from '@skipmesh/core'
import {
  cpuMs,
  inBatches,
  machine,
  PAYLOAD,
  peerjsPeer,
  percentile,
  relay,
  skipmeshPeer,
  startServer,
  stopServer,
  WINDOW,
} from './harness.mjs'

const ROOM_SIZE = 10
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
const outDir = fileURLToPath(new URL('../../../docs/benchmarks/', import.meta.url))

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
    const cpuBefore = await cpuMs(child)
    const {
      total,
      delivered,
      refused,
      seconds,
      latencies: sorted,
    } = await relay(peers, {
      signals,
      roomOf: (i) => Math.floor(i / ROOM_SIZE),
    })
    const serverCpuMs = (await cpuMs(child)) - cpuBefore
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
    await stopServer(child)
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
  machine: machine(loadBefore),
  method: {
    roomSize: ROOM_SIZE,
    windowPerClient: WINDOW,
    payload: PAYLOAD,
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

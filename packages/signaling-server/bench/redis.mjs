// Benchmark: Redis scale-out. 2,000 skipmesh clients in rooms of 10 relay signals (with acks) round-robin to the
// other peers of their room through (a) one instance without Redis, (b) one instance on Redis, (c) two instances
// on one real redis-server, the clients of every room spread over both (client i on instance i mod 2), so each
// sender has 4 room peers on its own instance and 5 on the other. Same client harness as run.mjs (harness.mjs).
// Reports per instance the signals/s its clients got relayed, their p50/p99 latency (same instance and across),
// the instance's CPU per signal and its /metrics counters. Loopback only; bounded: BENCH_CLIENTS clients (2,000),
// BENCH_SIGNALS signals (40,000), 60 s per relay phase, BENCH_REPS runs of each (2). Writes docs/benchmarks/signaling-redis.{json,md}.
// Run: npx tsc -b && node bench/redis.mjs (needs redis-server).
import { mkdirSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { generateKeyPair } from '@skipmesh/core'
import { startRedis } from '../test/redis-server.mjs'
import {
  ask,
  cpuMs,
  inBatches,
  machine,
  PAYLOAD,
  percentile,
  relay,
  skipmeshPeer,
  startServer,
  stopServer,
  WINDOW,
} from './harness.mjs'

const ROOM_SIZE = 10
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 2000)
const SIGNALS = Number(process.env.BENCH_SIGNALS ?? 40_000)
const CONFIGS = [
  { name: 'one instance', instances: 1, redis: false },
  { name: 'one instance on Redis', instances: 1, redis: true },
  { name: 'two instances on Redis', instances: 2, redis: true },
]
const outDir = fileURLToPath(new URL('../../../docs/benchmarks/', import.meta.url))

/** A counter's value in Prometheus text. */
function counter(text, name) {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text)
  return m === null ? undefined : Number(m[1])
}

/** Latency summary of a list of milliseconds. */
function summary(values) {
  const sorted = Float64Array.from(values).sort()
  return {
    count: sorted.length,
    p50Ms: sorted.length === 0 ? null : +percentile(sorted, 50).toFixed(2),
    p99Ms: sorted.length === 0 ? null : +percentile(sorted, 99).toFixed(2),
  }
}

/** Starts the instances of `config` (and its redis-server), runs the relay, stops everything. */
async function scenario(config) {
  const redis = config.redis ? await startRedis() : undefined
  const servers = []
  try {
    for (let k = 0; k < config.instances; k++) {
      servers.push(await startServer('skipmesh', ...(redis === undefined ? [] : [redis.url])))
    }
    const instanceOf = (i) => i % config.instances
    const keys = await generateKeyPair()
    const t0 = performance.now()
    const peers = await inBatches(CLIENTS, 50, (i) =>
      skipmeshPeer(servers[instanceOf(i)].port, `room-${Math.floor(i / ROOM_SIZE)}`, keys, true),
    )
    const connectSeconds = (performance.now() - t0) / 1000
    console.error(`bench: ${config.name}: ${CLIENTS} connected in ${connectSeconds.toFixed(1)} s`)
    const cpuBefore = await Promise.all(servers.map(({ child }) => cpuMs(child)))
    const metricsBefore = await Promise.all(servers.map(({ child }) => ask(child, 'metrics')))
    const run = await relay(peers, {
      signals: SIGNALS,
      roomOf: (i) => Math.floor(i / ROOM_SIZE),
      classify: (s, r) => `${instanceOf(s)}:${instanceOf(s) === instanceOf(r) ? 'same' : 'cross'}`,
    })
    const cpuAfter = await Promise.all(servers.map(({ child }) => cpuMs(child)))
    const metricsAfter = await Promise.all(servers.map(({ child }) => ask(child, 'metrics')))
    for (const p of peers) p.close()
    const perInstance = servers.map((_, k) => {
      const same = run.classes.get(`${k}:same`) ?? []
      const cross = run.classes.get(`${k}:cross`) ?? []
      const relayed = same.length + cross.length
      const delta = (name) => counter(metricsAfter[k].metrics, name) - counter(metricsBefore[k].metrics, name)
      return {
        instance: k,
        clients: peers.filter((_, i) => instanceOf(i) === k).length,
        relayed,
        signalsPerSecond: Math.round(relayed / run.seconds),
        ...summary([...same, ...cross]),
        sameInstance: summary(same),
        otherInstance: summary(cross),
        cpuUsPerSignal: +(((cpuAfter[k] - cpuBefore[k]) * 1000) / relayed).toFixed(1),
        metricsRelayed: delta('skipmesh_signal_signals_relayed_total'),
        metricsRelayedRemote: delta('skipmesh_signal_signals_relayed_remote_total'),
      }
    })
    return {
      config: config.name,
      instances: config.instances,
      redis: config.redis,
      clients: CLIENTS,
      rooms: Math.ceil(CLIENTS / ROOM_SIZE),
      signals: run.total,
      delivered: run.delivered,
      refused: run.refused,
      connectSeconds: +connectSeconds.toFixed(2),
      seconds: +run.seconds.toFixed(3),
      signalsPerSecond: Math.round(run.delivered / run.seconds),
      ...summary(run.latencies),
      cpuUsPerSignal: +(
        (cpuAfter.reduce((a, b) => a + b, 0) - cpuBefore.reduce((a, b) => a + b, 0)) *
        (1000 / run.delivered)
      ).toFixed(1),
      perInstance,
    }
  } finally {
    await Promise.all(servers.map(({ child }) => stopServer(child)))
    await redis?.stop()
  }
}

console.error('bench: redis scale-out')
const loadBefore = loadavg()
// BENCH_REPS repetitions (2) in alternating order (the machine is shared: noise hits every configuration alike);
// the tables keep each configuration's better run by throughput, the JSON keeps every run.
const REPS = Number(process.env.BENCH_REPS ?? 2)
const runs = []
for (let rep = 0; rep < REPS; rep++) {
  for (const config of rep % 2 === 0 ? CONFIGS : [...CONFIGS].reverse()) {
    const r = { ...(await scenario(config)), rep }
    console.log(JSON.stringify(r))
    runs.push(r)
  }
}
const results = CONFIGS.map((c) =>
  runs.filter((r) => r.config === c.name).reduce((a, b) => (b.signalsPerSecond > a.signalsPerSecond ? b : a)),
)
const report = {
  date: new Date().toISOString(),
  machine: machine(loadBefore),
  method: {
    roomSize: ROOM_SIZE,
    windowPerClient: WINDOW,
    payload: PAYLOAD,
    clients:
      'raw Socket.IO WebSocket clients in the benchmark process (join + Ed25519 authenticate, signal with ack); each instance in its own child process; rate limit lifted',
    placement: 'client i on instance i mod instances; rooms of 10 consecutive clients',
  },
  results,
  runs,
}
mkdirSync(outDir, { recursive: true })
writeFileSync(`${outDir}signaling-redis.json`, `${JSON.stringify(report, null, 2)}\n`)
const rows = results.flatMap((r) =>
  r.perInstance.map(
    (x) =>
      `| ${r.config} | ${x.instance} | ${x.clients} | ${x.signalsPerSecond} | ${x.p50Ms} | ${x.p99Ms} | ${x.sameInstance.p99Ms ?? '–'} | ${x.otherInstance.p99Ms ?? '–'} | ${x.cpuUsPerSignal} | ${x.metricsRelayed} / ${x.metricsRelayedRemote} |`,
  ),
)
const totals = results.map(
  (r) =>
    `| ${r.config} | ${r.delivered} / ${r.signals} | ${r.seconds} | ${r.signalsPerSecond} | ${r.p50Ms} | ${r.p99Ms} | ${r.cpuUsPerSignal} | ${r.connectSeconds} |`,
)
const md = `# Signaling server: Redis scale-out

Generated by \`node bench/redis.mjs\` (in \`packages/signaling-server\`, after \`tsc -b\`) on ${report.date}
(${report.machine.cpus} CPUs, ${report.machine.cpuModel}, Node ${report.machine.node}; load average
${report.machine.loadAverageBefore[0]} before, ${report.machine.loadAverageAfter[0]} after: the machine was shared
and every instance, redis-server and the ${CLIENTS} clients ran on its ${report.machine.cpus} cores, so treat absolute
figures as noisy).

${CLIENTS} skipmesh clients (joined and authenticated) in rooms of ${ROOM_SIZE} relay signals (an ICE candidate object,
~200 bytes of JSON, with acks) round-robin to the other peers of their room, each keeping ${WINDOW} in flight, through
one instance without Redis, one instance on a real redis-server (Redis registry and Socket.IO Redis adapter), and
two instances on one redis-server with client i on instance i mod 2 (so of a sender's 9 room peers, 4 are on its
instance and 5 on the other). Same client harness as \`signaling-server.md\` (\`bench/harness.mjs\`). Loopback only.
Each configuration ran ${REPS} times in alternating order; the tables show its better run (every run is in the
JSON). The load is a closed loop that saturates the servers, so latency is mostly queueing (${CLIENTS} × ${WINDOW}
signals in flight divided by the throughput): compare throughput first.

Whole run:

| configuration | delivered | seconds | relayed signals/s | p50 ms | p99 ms | server CPU µs/signal (all instances) | connect s |
|---|---|---|---|---|---|---|---|
${totals.join('\n')}

Per instance (signals sent by the clients of that instance; latency send-to-delivery; \`/metrics\` is the
instance's \`skipmesh_signal_signals_relayed_total\` / \`..._relayed_remote_total\` over the relay phase):

| configuration | instance | clients | relayed signals/s | p50 ms | p99 ms | p99 same instance | p99 other instance | CPU µs/signal | /metrics relayed / remote |
|---|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}
`
writeFileSync(`${outDir}signaling-redis.md`, md)
console.log(md)

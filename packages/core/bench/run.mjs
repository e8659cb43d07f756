// `npm run bench` in packages/core: envelope codec (msgpackr vs JSON) and memory-hub throughput (conduit vs raw
// connection). Imports the built package (run `npx tsc -b packages/core` first). Writes
// docs/benchmarks/core.json and docs/benchmarks/core.md at the repository root. Takes well under a minute.
import { writeFileSync, mkdirSync } from 'node:fs'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { Channel, Identifier, MemoryHub, createMsgpackCodec, createNetwork } from '../dist/index.js'

const loadAtStart = os.loadavg()[0]
const outDir = fileURLToPath(new URL('../../../docs/benchmarks/', import.meta.url))
const KiB = 1024
const MiB = 1024 * 1024

/** Runs `fn` in batches until `ms` elapsed (after a warm-up); ops per second. */
function measure(fn, ms = 1000) {
  const warmUntil = performance.now() + ms / 4
  while (performance.now() < warmUntil) fn()
  let ops = 0
  let batch = 1
  const start = performance.now()
  let elapsed = 0
  while (elapsed < ms) {
    for (let i = 0; i < batch; i++) fn()
    ops += batch
    elapsed = performance.now() - start
    if (elapsed < ms / 20) batch *= 2
  }
  return (ops * 1000) / elapsed
}

function payloadOf(size) {
  const p = new Uint8Array(size)
  for (let i = 0; i < size; i++) p[i] = (i * 131 + 7) & 0xff
  return p
}

// ---- codec: msgpackr vs JSON (payload as base64: the fair text baseline) ----
const msgpack = createMsgpackCodec()
const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder()
const jsonCodec = {
  encode(env) {
    return utf8.encode(
      JSON.stringify({
        c: env.channel,
        s: env.sender.toHex(),
        p: Buffer.from(env.payload.buffer, env.payload.byteOffset, env.payload.byteLength).toString('base64'),
        m: env.metadata,
        t: env.timestamp,
      }),
    )
  },
  decode(bytes) {
    const raw = JSON.parse(fromUtf8.decode(bytes))
    const p = Buffer.from(raw.p, 'base64')
    return {
      channel: raw.c,
      sender: Identifier.fromHex(raw.s),
      payload: new Uint8Array(p.buffer, p.byteOffset, p.byteLength),
      metadata: raw.m,
      timestamp: raw.t,
    }
  },
}

const sender = Identifier.random()
const codecRows = []
for (const size of [100, KiB, 64 * KiB]) {
  const env = {
    channel: Channel.Test,
    sender,
    payload: payloadOf(size),
    metadata: { kind: 'bench', seq: '42' },
    timestamp: Date.now(),
  }
  const mpBytes = msgpack.encode(env)
  const jsonBytes = jsonCodec.encode(env)
  const check = msgpack.decode(mpBytes)
  if (!check.ok || check.envelope.payload.length !== size) throw new Error('msgpack round trip failed')
  if (jsonCodec.decode(jsonBytes).payload.length !== size) throw new Error('json round trip failed')
  const msgpackOps = measure(() => {
    const r = msgpack.decode(msgpack.encode(env))
    if (!r.ok) throw new Error('decode failed')
  })
  const jsonOps = measure(() => {
    jsonCodec.decode(jsonCodec.encode(env))
  })
  codecRows.push({
    payloadBytes: size,
    msgpack: { opsPerSec: Math.round(msgpackOps), encodedBytes: mpBytes.length },
    json: { opsPerSec: Math.round(jsonOps), encodedBytes: jsonBytes.length },
    speedup: Number((msgpackOps / jsonOps).toFixed(2)),
  })
  console.log(`codec ${size} B: msgpack ${Math.round(msgpackOps)} ops/s, json ${Math.round(jsonOps)} ops/s`)
}

// ---- throughput over the memory hub: conduit (encode, route, decode) vs raw MemoryConnection.send ----
async function conduitThroughput(size, count) {
  const hub = new MemoryHub()
  const [a, b] = [Identifier.random(), Identifier.random()]
  const na = createNetwork({ connectionManager: hub.connectionManager(a) })
  const nb = createNetwork({ connectionManager: hub.connectionManager(b) })
  na.start()
  nb.start()
  await Promise.all([na.ready(), nb.ready()])
  let received = 0
  let done
  const all = new Promise((resolve) => {
    done = resolve
  })
  await nb.register(Channel.Test, {
    processIncomingMessage: () => {
      if (++received === count) done()
    },
  })
  const conduit = await na.register(Channel.Test, { processIncomingMessage: () => {} })
  const message = { payload: payloadOf(size), metadata: {} }
  await conduit.send(b, message) // connect outside the timed part
  received = 0
  const start = performance.now()
  const window = 256
  for (let i = 0; i < count; i += window) {
    const batch = []
    for (let j = i; j < Math.min(count, i + window); j++) batch.push(conduit.send(b, message))
    await Promise.all(batch)
  }
  await all
  const seconds = (performance.now() - start) / 1000
  await Promise.all([na.stop(), nb.stop()])
  return {
    messagesPerSec: Math.round(count / seconds),
    mibPerSec: Number(((count * size) / MiB / seconds).toFixed(1)),
  }
}

async function rawThroughput(size, count) {
  const hub = new MemoryHub()
  const ma = hub.connectionManager(Identifier.random())
  const mb = hub.connectionManager(Identifier.random())
  ma.start()
  mb.start()
  await Promise.all([ma.ready(), mb.ready()])
  let received = 0
  let done
  const all = new Promise((resolve) => {
    done = resolve
  })
  mb.on('connection', (conn) =>
    conn.on('message', () => {
      if (++received === count) done()
    }),
  )
  const conn = await ma.connect(mb.localId)
  const bytes = payloadOf(size)
  const start = performance.now()
  const window = 256
  for (let i = 0; i < count; i += window) {
    const batch = []
    for (let j = i; j < Math.min(count, i + window); j++) batch.push(conn.send(Channel.Test, bytes))
    await Promise.all(batch)
  }
  await all
  const seconds = (performance.now() - start) / 1000
  await Promise.all([ma.stop(), mb.stop()])
  return {
    messagesPerSec: Math.round(count / seconds),
    mibPerSec: Number(((count * size) / MiB / seconds).toFixed(1)),
  }
}

const throughputRows = []
for (const [size, count] of [
  [100, 200_000],
  [64 * KiB, 8_000],
]) {
  await conduitThroughput(size, Math.floor(count / 10)) // warm-up
  await rawThroughput(size, Math.floor(count / 10))
  const conduit = await conduitThroughput(size, count)
  const raw = await rawThroughput(size, count)
  throughputRows.push({
    payloadBytes: size,
    messages: count,
    conduit,
    rawConnection: raw,
    conduitToRaw: Number((conduit.messagesPerSec / raw.messagesPerSec).toFixed(2)),
  })
  console.log(
    `throughput ${size} B: conduit ${conduit.messagesPerSec} msg/s, raw ${raw.messagesPerSec} msg/s`,
  )
}

const cpus = os.cpus()
const machine = {
  cpu: cpus[0]?.model ?? 'unknown',
  cores: cpus.length,
  memoryGiB: Number((os.totalmem() / 1024 ** 3).toFixed(1)),
  platform: `${os.platform()} ${os.release()} ${os.arch()}`,
  node: process.version,
  loadAverage1mAtStart: Number(loadAtStart.toFixed(2)),
}
const result = {
  package: '@skipmesh/core',
  date: new Date().toISOString(),
  machine,
  codec: codecRows,
  throughput: throughputRows,
}

const fmt = (n) => n.toLocaleString('en-US')
const size = (b) => (b >= KiB ? `${b / KiB} KiB` : `${b} B`)
const md = `# @skipmesh/core benchmarks

Generated by \`npm run bench\` in \`packages/core\` (\`node bench/run.mjs\`) on ${result.date}.

Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.platform}, Node ${machine.node};
1-minute load average at start: ${machine.loadAverage1mAtStart} (the machine is shared).
Figures are from one run on a shared machine; compare ratios within a run, not absolute numbers across runs.

## Envelope encode + decode (one op = encode then decode)

msgpack is \`createMsgpackCodec()\` (msgpackr plus the full validation of untrusted input: structure scan,
forbidden keys, field types). JSON is the fair text baseline: \`JSON.stringify\` with the payload as base64 and
the sender as hex, UTF-8 encoded; decode parses, decodes base64 and hex, without validation.

| payload | msgpack ops/s | JSON ops/s | msgpack / JSON | msgpack bytes | JSON bytes |
|---|---:|---:|---:|---:|---:|
${codecRows
  .map(
    (r) =>
      `| ${size(r.payloadBytes)} | ${fmt(r.msgpack.opsPerSec)} | ${fmt(r.json.opsPerSec)} | ${r.speedup}× | ${fmt(r.msgpack.encodedBytes)} | ${fmt(r.json.encodedBytes)} |`,
  )
  .join('\n')}

## Memory-hub throughput (one sender, one receiver, one channel, 256 sends in flight)

Conduit: \`conduit.send\` through \`DefaultNetwork\` (encode, size check, connection lookup, hub copy, decode,
sender/channel checks, processor call). Raw: \`MemoryConnection.send\` of the same payload bytes (hub copy only).

| payload | messages | conduit msg/s | conduit MiB/s | raw msg/s | raw MiB/s | conduit / raw |
|---|---:|---:|---:|---:|---:|---:|
${throughputRows
  .map(
    (r) =>
      `| ${size(r.payloadBytes)} | ${fmt(r.messages)} | ${fmt(r.conduit.messagesPerSec)} | ${r.conduit.mibPerSec} | ${fmt(r.rawConnection.messagesPerSec)} | ${r.rawConnection.mibPerSec} | ${r.conduitToRaw} |`,
  )
  .join('\n')}
`

mkdirSync(outDir, { recursive: true })
writeFileSync(`${outDir}core.json`, `${JSON.stringify(result, null, 2)}\n`)
writeFileSync(`${outDir}core.md`, md)
console.log(`wrote ${outDir}core.json and core.md`)

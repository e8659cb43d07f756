/**
 * `npm run bench` of @skipmesh/webrtc: raw RTCDataChannel vs the skipmesh conduit (createNetwork over the
 * WebRTC ConnectionManager), in Chromium (two browser contexts, Playwright) and in Node (@roamhq/wrtc and
 * node-datachannel), in one run. Writes docs/benchmarks/webrtc.{json,md}.
 *
 * Both sides of every comparison are timed by the same code (bench/measure.mjs); raw and conduit runs are
 * interleaved so that load from elsewhere on the machine hits both alike. Bounded to < 3 minutes.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { createJsonLogger, createSignalingServer } from '@skipmesh/signaling-server'
import { nodeDatachannelWrtc } from '@skipmesh/webrtc'
import { chromium } from 'playwright-core'
import { build } from 'vite'
import { launchOptions } from '../../../scripts/chromium.mjs'
import { createNativePeerTransport } from '../dist/peer-native.js'
import { bareTransportHandshake, connectRaw, openHarness } from '../test-browser/pages.mjs'
import { createDriver, epochNow, quantile, serveSink } from './measure.mjs'
import { startNode } from './node-conduit.mjs'
import { linkRaw } from './node-raw.mjs'

const HARD_LIMIT_MS = 175_000
/** Per environment (Chromium, Node × 2); one that hangs is reported and skipped. */
const ENV_LIMIT_MS = 50_000
const KiB = 1024
const MiB = 1024 * KiB
const ROUNDS = 5
const BULK_64K = 192 // 12 MiB per round
const BULK_100 = 6_000
const RTT_SAMPLES = 300
const HANDSHAKES = 5
const TARGET_64K = 0.95
const TARGET_100 = 0.8

const watchdog = setTimeout(() => {
  console.error(`bench: exceeded ${HARD_LIMIT_MS} ms, aborting`)
  process.exit(1)
}, HARD_LIMIT_MS)
watchdog.unref()

const here = (p) => fileURLToPath(new URL(p, import.meta.url))
const started = performance.now()
const log = (...args) => console.log(`[bench ${((performance.now() - started) / 1000).toFixed(1)}s]`, ...args)
const median = (xs) => quantile(xs, 0.5)
const round = (x, d = 2) => Math.round(x * 10 ** d) / 10 ** d

/**
 * What `node bench/profile.mjs` (V8 CPU profiler in both pages, 100 µs sampling) showed on 2026-11-24, before and
 * after the connection started coalescing small messages (commit fa0b2ba); kept in the report because the figures
 * alone do not say where the conduit's time goes.
 */
const PROFILE_FINDINGS = `## Where the conduit's time goes (Chromium, \`node bench/profile.mjs\`)

Self time of each page's main thread, conduit between two browser contexts, 2026-11-24.

**Before fa0b2ba** (one data-channel message per skipmesh message), 100 B × 20,000: ≈ 11–13 k msgs/s, the
**receiver** was the bottleneck (10 % idle): native dispatch of every data-channel message 45 % (raw pays it too),
envelope decode in core's codec ≈ 17 % (a \`TextDecoder.decode\` per map key in the \`scan\` pre-pass), frame handling
9 %, GC 7 %. Sender: native \`send\` 25 %, GC 10.5 %, pump + \`encodeFrame\` (a fresh frame per message) 10 %. 64 KiB:
both main threads mostly idle (SCTP-bound), but after each \`highWaterMark\` of bytes the pump yielded with a clamped
\`setTimeout(0)\` and polled the drain every 5 ms; with node-datachannel (\`pc.sctp === null\`) frames fell back to
65,536 bytes, so every 64 KiB payload left as two data-channel messages. Suggested then: coalesce small messages,
yield without timer clamping, take the link size from the SDP's \`a=max-message-size\`, cheaper envelope decode,
fewer payload copies. **fa0b2ba did the first three.**

**After fa0b2ba**, 100 B × 20,000: ≈ 43 k msgs/s under the profiler, both threads ≈ 45 % idle.

| sender | share | | receiver | share |
|---|---|---|---|---|
| msgpackr \`pack\` (envelope) | 12.7 % | | envelope decode (\`decode\`, \`scan\`, \`value\`: core's codec) | 15.6 % |
| connection \`send\` + \`encodeBatch\` | 15.5 % | | garbage collection | 15.4 % |
| garbage collection | 6.5 % | | native (\`(program)\`) | 14.6 % |
| native \`RTCDataChannel.send\` | 2 % | | routing, emit | 4 % |

64 KiB × 320 after fa0b2ba: 19 MiB/s under the profiler, sender 75 % and receiver 88 % idle: the SCTP stack bounds
raw and conduit alike; the conduit's JS is ≈ 7 % of the sender.

What is left (\`packages/core/src/codec.ts\`, \`packages/webrtc/src/connection.ts\`): the envelope codec is now the
largest JS cost on both sides (encode 13 %, decode 16 %) and the per-message allocations show up as GC (15 % of
the receiver); a single-pass validated decode and encoding into a reusable buffer are the next steps.

A global \`Buffer\` polyfill (common when bundling Node-style WebRTC libraries) made msgpackr allocate polyfilled \`Buffer\`s: the
sender's msgpack share fell from ≈ 12 % to ≈ 2 % and conduit 100 B throughput rose 13 % once the harness stopped
installing one.
`

/**
 * Interleaved measurements of two drivers (`raw`, `conduit`), each `{ bulk(size, count), rtt(size, n) }`.
 * @param {Record<'raw' | 'conduit', { bulk: (size: number, count: number) => Promise<{ ms: number, bytes: number, messages: number }>, rtt: (size: number, n: number) => Promise<number[]> }>} drivers
 */
async function throughputAndLatency(drivers, cpuMs) {
  const kinds = /** @type {const} */ (['raw', 'conduit'])
  /** @type {Record<string, { mibps: number[], msgps: number[], mibPerCpuS: number[], msgsPerCpuS: number[], rtt: number[] }>} */
  const acc = {
    raw: { mibps: [], msgps: [], mibPerCpuS: [], msgsPerCpuS: [], rtt: [] },
    conduit: { mibps: [], msgps: [], mibPerCpuS: [], msgsPerCpuS: [], rtt: [] },
  }
  for (const k of kinds) {
    await drivers[k].bulk(64 * KiB, 64) // warm up the SCTP congestion window
    await drivers[k].bulk(100, 2000)
  }
  /** Runs one bulk measurement; also the CPU time the whole process tree spent on it. */
  const timed = async (k, size, count) => {
    const c0 = cpuMs()
    const run = await drivers[k].bulk(size, count)
    return { ...run, cpuMs: Math.max(cpuMs() - c0, 1) }
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const k of r % 2 === 0 ? kinds : [...kinds].reverse()) {
      const big = await timed(k, 64 * KiB, BULK_64K)
      acc[k].mibps.push(big.bytes / MiB / (big.ms / 1000))
      acc[k].mibPerCpuS.push(big.bytes / MiB / (big.cpuMs / 1000))
      const small = await timed(k, 100, BULK_100)
      acc[k].msgps.push(small.messages / (small.ms / 1000))
      acc[k].msgsPerCpuS.push(small.messages / (small.cpuMs / 1000))
    }
  }
  for (const k of kinds) acc[k].rtt = await drivers[k].rtt(100, RTT_SAMPLES)
  // raw and conduit of one round ran back to back: their ratio is less exposed to load drifting between rounds
  const paired = (metric) => acc.conduit[metric].map((c, i) => round(c / acc.raw[metric][i], 3))
  const summarize = (a) => ({
    mibps64KiB: round(median(a.mibps)),
    msgsPerSec100B: Math.round(median(a.msgps)),
    mibPerCpuSecond64KiB: round(median(a.mibPerCpuS)),
    msgsPerCpuSecond100B: Math.round(median(a.msgsPerCpuS)),
    rttP50Ms: round(quantile(a.rtt, 0.5), 3),
    rttP99Ms: round(quantile(a.rtt, 0.99), 3),
    runs: {
      mibps64KiB: a.mibps.map((x) => round(x)),
      msgsPerSec100B: a.msgps.map((x) => Math.round(x)),
      mibPerCpuSecond64KiB: a.mibPerCpuS.map((x) => round(x)),
      msgsPerCpuSecond100B: a.msgsPerCpuS.map((x) => Math.round(x)),
    },
  })
  return {
    raw: summarize(acc.raw),
    conduit: summarize(acc.conduit),
    pairedRatios: {
      throughput64KiB: paired('mibps'),
      messages100B: paired('msgps'),
      cpuEfficiency64KiB: paired('mibPerCpuS'),
      cpuEfficiency100B: paired('msgsPerCpuS'),
    },
  }
}

/** CPU time (user + system, ms) of process `root` and all its descendants, from /proc (Linux). */
function processTreeCpuMs(root) {
  const ticks = 100 // USER_HZ; Linux reports /proc/<pid>/stat times in it
  const stats = new Map()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let text
    try {
      text = readFileSync(`/proc/${entry}/stat`, 'utf8')
    } catch {
      continue // the process ended meanwhile
    }
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
    stats.set(Number(entry), { ppid: Number(fields[1]), cpu: Number(fields[11]) + Number(fields[12]) })
  }
  let total = 0
  const inTree = (pid) => {
    for (let p = pid, hops = 0; p > 1 && hops < 64; hops++) {
      if (p === root) return true
      p = stats.get(p)?.ppid ?? 0
    }
    return false
  }
  for (const [pid, st] of stats) if (inTree(pid)) total += st.cpu
  return (total * 1000) / ticks
}

/** The Chromium process Playwright launched: this process's child whose command name mentions chrom. */
function chromiumChildPid() {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const text = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const comm = text.slice(text.indexOf('(') + 1, text.lastIndexOf(')'))
      const ppid = Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === process.pid && /chrom/i.test(comm)) return Number(entry)
    } catch {
      // the process ended meanwhile
    }
  }
  throw new Error('the Chromium process was not found among this process’s children')
}

/** CPU time (ms) of this process, every thread included (the Node peers and their WebRTC stacks). */
function ownCpuMs() {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

/** The headline figures of one environment, for the console. */
function brief(result) {
  const pick = (x) => ({
    mibps64KiB: x.mibps64KiB,
    msgsPerSec100B: x.msgsPerSec100B,
    rttP50Ms: x.rttP50Ms,
    rttP99Ms: x.rttP99Ms,
    handshakeMs: x.bareHandshakeMs ?? x.connectToFirstMessageMs,
  })
  return { raw: pick(result.raw), conduit: pick(result.conduit) }
}

function ratios(result) {
  const r = {
    // median of the per-round (paired) ratios
    throughput64KiB: round(median(result.pairedRatios.throughput64KiB), 3),
    messages100B: round(median(result.pairedRatios.messages100B), 3),
    cpuEfficiency64KiB: round(median(result.pairedRatios.cpuEfficiency64KiB), 3),
    cpuEfficiency100B: round(median(result.pairedRatios.cpuEfficiency100B), 3),
    rttP50: round(result.conduit.rttP50Ms / result.raw.rttP50Ms, 3),
    connectToFirstMessage: round(result.conduit.connectToFirstMessageMs / result.raw.bareHandshakeMs, 3),
  }
  return { ...r, meets64KiB: r.throughput64KiB >= TARGET_64K, meets100B: r.messages100B >= TARGET_100 }
}

async function browserSuite(browser, url) {
  const room = `bench-browser-${process.pid}`
  const [a, b] = [await openHarness(browser, url), await openHarness(browser, url)]
  await connectRaw(a, b, 'bench')
  const idA = await a.evaluate(([u, r]) => window.harness.mesh.start('n', { url: u, room: r }), [url, room])
  const idB = await b.evaluate(([u, r]) => window.harness.mesh.start('n', { url: u, room: r }), [url, room])
  await b.evaluate(([peer]) => window.harness.mesh.pipe('n', 'bench', peer, 'sink'), [idA])
  await a.evaluate(([peer]) => window.harness.mesh.pipe('n', 'bench', peer, 'driver'), [idB])
  const drivers = {
    raw: {
      bulk: (size, count) => a.evaluate(([s, c]) => window.harness.raw.bulk('bench', s, c), [size, count]),
      rtt: (size, n) => a.evaluate(([s, k]) => window.harness.raw.rtt('bench', s, k), [size, n]),
    },
    conduit: {
      bulk: (size, count) =>
        a.evaluate(([s, c]) => window.harness.mesh.bulk('n', 'bench', s, c), [size, count]),
      rtt: (size, n) => a.evaluate(([s, k]) => window.harness.mesh.rtt('n', 'bench', s, k), [size, n]),
    },
  }
  const chromiumPid = chromiumChildPid()
  const result = await throughputAndLatency(drivers, () => processTreeCpuMs(chromiumPid))

  const sp = []
  for (let i = 0; i < HANDSHAKES; i++) sp.push(await bareTransportHandshake(a, b, `sp${i}`))
  const first = []
  for (let i = 0; i < HANDSHAKES; i++) {
    const name = `h${i}`
    const ha = await a.evaluate(
      ([u, r, n]) => window.harness.mesh.start(n, { url: u, room: r }),
      [url, room, name],
    )
    const hb = await b.evaluate(
      ([u, r, n]) => window.harness.mesh.start(n, { url: u, room: r }),
      [url, room, name],
    )
    await b.evaluate((n) => window.harness.mesh.register(n, 'first', { hash: false }), name)
    await a.evaluate((n) => window.harness.mesh.register(n, 'first', { hash: false }), name)
    const t0 = await a.evaluate(([n, to]) => window.harness.mesh.timedFirstSend(n, 'first', to), [name, hb])
    await b.evaluate((n) => window.harness.mesh.waitFor(n, 'first', 1, 20_000), name)
    const [rec] = await b.evaluate((n) => window.harness.mesh.received(n, 'first'), name)
    first.push(rec.at - t0)
    void ha
    await Promise.all([
      a.evaluate((n) => window.harness.mesh.stop(n), name),
      b.evaluate((n) => window.harness.mesh.stop(n), name),
    ])
  }
  result.raw.bareHandshakeMs = round(median(sp))
  result.raw.bareHandshakeSamples = sp.map((x) => round(x))
  result.conduit.connectToFirstMessageMs = round(median(first))
  result.conduit.connectToFirstMessageSamples = first.map((x) => round(x))
  result.conduit.metrics = await a.evaluate(() => window.harness.mesh.metrics('n'))
  await Promise.all([a.context().close(), b.context().close()])
  return result
}

async function nodeSuite(implName, wrtc, url) {
  const room = `bench-${implName.replace(/[^A-Za-z0-9]/g, '')}-${process.pid}`
  const raw = await linkRaw(wrtc)
  log(`  ${implName}: raw link up`)
  serveSink(raw.sink)
  const na = await startNode({ url, room, wrtc })
  const nb = await startNode({ url, room, wrtc })
  log(`  ${implName}: nodes joined`)
  serveSink(await nb.pipe('bench', na.id))
  const conduitDriver = createDriver(await na.pipe('bench', nb.id))
  const result = await throughputAndLatency(
    { raw: createDriver(raw.driver), conduit: conduitDriver },
    ownCpuMs,
  )
  raw.close()
  log(`  ${implName}: throughput and latency done`)

  const sp = []
  for (let i = 0; i < HANDSHAKES; i++) {
    const t0 = epochNow()
    const pa = createNativePeerTransport({ initiator: true, wrtc, config: { iceServers: [] } })
    const pb = createNativePeerTransport({ initiator: false, wrtc, config: { iceServers: [] } })
    const [da, db] = [pa.createChannel('bare', 2), pb.createChannel('bare', 2)]
    pa.on('signal', (d) => pb.signal(d))
    pb.on('signal', (d) => pa.signal(d))
    const t1 = await new Promise((resolve, reject) => {
      db.addEventListener('message', () => resolve(epochNow()), { once: true })
      da.addEventListener('open', () => da.send(Uint8Array.of(7)), { once: true })
      pa.on('error', reject)
      pb.on('error', reject)
    })
    sp.push(t1 - t0)
    pa.destroy()
    pb.destroy()
  }
  log(`  ${implName}: bare peer-transport handshakes done`)
  const first = []
  for (let i = 0; i < HANDSHAKES; i++) {
    const [ha, hb] = [await startNode({ url, room, wrtc }), await startNode({ url, room, wrtc })]
    const { arrived } = await hb.firstArrival('first')
    const t0 = await ha.timedFirstSend('first', hb.id)
    first.push((await arrived) - t0)
    await Promise.all([ha.stop(), hb.stop()])
  }
  result.raw.bareHandshakeMs = round(median(sp))
  result.raw.bareHandshakeSamples = sp.map((x) => round(x))
  result.conduit.connectToFirstMessageMs = round(median(first))
  result.conduit.connectToFirstMessageSamples = first.map((x) => round(x))
  result.conduit.metrics = { network: na.network.metrics(), manager: na.manager.metrics() }
  await Promise.all([na.stop(), nb.stop()])
  return result
}

function markdown(report) {
  const rows = []
  const f = (x) => (typeof x === 'number' ? String(x) : '–')
  for (const [env, r] of Object.entries(report.results)) {
    const q = r.ratios
    const spread = (xs) => `${round(Math.min(...xs), 2)}–${round(Math.max(...xs), 2)}`
    const p = r.pairedRatios
    rows.push(
      `| ${env} | 64 KiB messages (MiB/s) | ${f(r.raw.mibps64KiB)} | ${f(r.conduit.mibps64KiB)} | **${f(q.throughput64KiB)}** (${spread(p.throughput64KiB)}) | ≥ ${TARGET_64K} ${q.meets64KiB ? '✅' : '❌'} |`,
      `| ${env} | 100 B messages (msgs/s) | ${f(r.raw.msgsPerSec100B)} | ${f(r.conduit.msgsPerSec100B)} | **${f(q.messages100B)}** (${spread(p.messages100B)}) | ≥ ${TARGET_100} ${q.meets100B ? '✅' : '❌'} |`,
      `| ${env} | 64 KiB: MiB per CPU-second | ${f(r.raw.mibPerCpuSecond64KiB)} | ${f(r.conduit.mibPerCpuSecond64KiB)} | ${f(q.cpuEfficiency64KiB)} (${spread(p.cpuEfficiency64KiB)}) | |`,
      `| ${env} | 100 B: messages per CPU-second | ${f(r.raw.msgsPerCpuSecond100B)} | ${f(r.conduit.msgsPerCpuSecond100B)} | ${f(q.cpuEfficiency100B)} (${spread(p.cpuEfficiency100B)}) | |`,
      `| ${env} | round trip p50 (ms) | ${f(r.raw.rttP50Ms)} | ${f(r.conduit.rttP50Ms)} | ${f(q.rttP50)} | |`,
      `| ${env} | round trip p99 (ms) | ${f(r.raw.rttP99Ms)} | ${f(r.conduit.rttP99Ms)} | ${f(round(r.conduit.rttP99Ms / r.raw.rttP99Ms, 3))} | |`,
      `| ${env} | bare peer-transport handshake vs connect → first message (ms) | ${f(r.raw.bareHandshakeMs)} | ${f(r.conduit.connectToFirstMessageMs)} | ${f(q.connectToFirstMessage)} | |`,
    )
  }
  return `# @skipmesh/webrtc benchmark

Generated by \`npm run bench -w @skipmesh/webrtc\` (\`packages/webrtc/bench/run.mjs\`) on ${report.date}.
Machine: ${report.machine.cpus} × ${report.machine.cpuModel}, Node ${report.machine.node}, ${report.machine.chromium};
load average at the end of the run ${report.machine.loadAverageAtEnd.join(' / ')} (1 / 5 / 15 min). Per-round figures
are in \`webrtc.json\` (\`runs\`, \`pairedRatios\`): on a loaded machine they spread widely, read the ratios with that in mind.

**raw** = a plain \`RTCPeerConnection\` with one ordered \`RTCDataChannel\` (sends wait for \`bufferedamountlow\`
above 1 MiB buffered, resuming at 256 KiB, like the conduit). **conduit** = \`createNetwork\` over
\`createWebRtcConnectionManager\`: \`conduit.send(peer, { payload, metadata: {} })\` awaited one after another, the
receiving side's \`MessageProcessor\` counting. Both are timed by the same code (\`bench/measure.mjs\`): the sender
sends N messages and stops the clock when the receiver reports it got all N. ${ROUNDS} rounds after a warm-up,
each running raw and conduit back to back (alternating which goes first): ${BULK_64K} × 64 KiB = ${(BULK_64K * 64) / 1024} MiB, then
${BULK_100} × 100 B. The figures are medians over rounds; the **ratios are medians of the per-round ratios** (each
from a raw and a conduit run made seconds apart). **Per CPU-second** rows divide by the CPU time (user + system,
every thread) the run cost: the whole Chromium process tree (both renderers, network service…) or the Node
process; they are far less sensitive to other load on the machine than the wall-clock rows. Round trips: ${RTT_SAMPLES} sequential 100 B ping/pongs. Chromium: two browser contexts of one headless Chromium. Node: both peers in one
process.

Handshake row: **raw** = a bare pair of skipmesh's peer transport (trickle ICE, one negotiated data channel) from its creation to the first message
delivered, signals relayed directly (Node) or through the Playwright process (Chromium); **conduit** = from
\`conduit.send()\` to a peer not yet connected (both already joined to the signaling server) until its processor
receives the message: dial, signaling through the real Socket.IO server, channel set-up, delivery. Median of
${HANDSHAKES}.

| environment | metric | raw | conduit | conduit / raw (min–max of rounds) | target |
|---|---|---|---|---|---|
${rows.join('\n')}

Targets: conduit ≥ ${TARGET_64K}× raw for 64 KiB messages, ≥ ${TARGET_100}× raw for 100 B messages.

Reading the rows: since webrtc commit fa0b2ba the conduit carries small messages queued together in one batch
data-channel message, while raw sends one data-channel message per 100 B message, so a 100 B ratio above 1 is the
batching at work, not a measurement slip. With node-datachannel the handshake row sometimes shows ≈ 1 s on both
sides (bare transport and conduit alike) and sometimes ≈ 10 ms: that stall is in the stack, not in skipmesh.
${report.notes.length > 0 ? `\n## Notes\n\n${report.notes.map((n) => `- ${n}`).join('\n')}\n` : ''}
${PROFILE_FINDINGS}`
}

async function main() {
  const t0 = performance.now()
  const dist = here('../test-browser/dist')
  await build({ configFile: here('../test-browser/harness/vite.config.ts'), logLevel: 'warn' })
  const server = await createSignalingServer({
    port: 0,
    host: '127.0.0.1',
    staticDir: dist,
    logger: createJsonLogger({ level: 'warn' }),
  })
  const browser = await chromium.launch(launchOptions())
  const results = {}
  const notes = []
  /** Runs one environment; a failure (also one thrown asynchronously) is recorded and the others still run. */
  const only = process.env.BENCH_ONLY
  const environment = async (name, run) => {
    if (only !== undefined && !name.includes(only)) return
    log(`${name}…`)
    let onUncaught = () => {}
    const uncaught = new Promise((_, reject) => {
      onUncaught = reject
    })
    process.on('uncaughtException', onUncaught)
    let timer
    const overdue = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`not finished after ${ENV_LIMIT_MS} ms`)), ENV_LIMIT_MS)
    })
    const started = performance.now()
    try {
      results[name] = await Promise.race([run(), uncaught, overdue])
      log(
        `${name} (${((performance.now() - started) / 1000).toFixed(1)} s)`,
        JSON.stringify(brief(results[name])),
      )
    } catch (err) {
      const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
      notes.push(`${name}: the run failed (${message}); no figures.`)
      log(`${name} FAILED`, err)
    } finally {
      clearTimeout(timer)
      process.off('uncaughtException', onUncaught)
    }
  }
  try {
    await environment('chromium', () => browserSuite(browser, server.url))
    const ndc = await import('node-datachannel/polyfill')
    await environment('node (node-datachannel)', () =>
      nodeSuite('node-datachannel', nodeDatachannelWrtc(ndc), server.url),
    )
    const roam = (await import('@roamhq/wrtc')).default
    await environment('node (@roamhq/wrtc)', () => nodeSuite('roamhq-wrtc', roam, server.url))
  } finally {
    await browser.close().catch(() => {})
    await server.close()
  }
  for (const r of Object.values(results)) r.ratios = ratios(r)
  const report = {
    date: new Date().toISOString(),
    durationMs: Math.round(performance.now() - t0),
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      node: process.version,
      chromium: `Chromium ${browser.version()}`,
      loadAverageAtEnd: os.loadavg().map((x) => round(x)),
    },
    targets: { throughput64KiB: TARGET_64K, messages100B: TARGET_100 },
    results,
    notes,
  }
  if (only !== undefined) {
    log(`BENCH_ONLY=${only}: partial run, docs/benchmarks not written`)
    for (const [env, r] of Object.entries(results)) log(env, JSON.stringify(r.ratios))
    return
  }
  const out = here('../../../docs/benchmarks/')
  await mkdir(out, { recursive: true })
  await writeFile(`${out}webrtc.json`, `${JSON.stringify(report, null, 2)}\n`)
  await writeFile(`${out}webrtc.md`, markdown(report))
  log(`done in ${(report.durationMs / 1000).toFixed(1)} s`)
  for (const [env, r] of Object.entries(results)) log(env, JSON.stringify(r.ratios))
}

await main()
process.exit(0)

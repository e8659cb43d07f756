// Merging skip graphs over MemoryHub (zero latency). For each n: (1) merge: two graphs of n/2 nodes each, built
// apart (joins BATCH at a time), then every node's contacts become all n nodes (as the demo's signaling room): the time
// and the messages until they are one correct graph (every node joined, none merging, no dead entry, checker
// clean). (2) heal: one graph of n nodes is partitioned (`hub.partition`) into two random halves; once each half has
// repaired into a correct graph of its own, `hub.heal()`: the time and the messages until one graph again.
// Probes and merge checks every PERIOD ms (default 1000). Writes docs/benchmarks/merge.{json,md} (OUT_SUFFIX for a
// partial run). Imports ../dist. Not run in CI; `SIZES=64,256 HEAL_SIZES=64 node bench/merge.mjs` for a quick run.
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { MemoryHub } from '@skipmesh/core'
import { oneGraph, repaired } from '../dist/testing/index.js'
import { joinInBatches, makeMember, randomId, stopAll } from './graph.mjs'
import { round, rng } from './stats.mjs'

const SIZES = (process.env.SIZES ?? '64,256,1024').split(',').map(Number)
const HEAL_SIZES = (process.env.HEAL_SIZES ?? process.env.SIZES ?? '64,256,1024').split(',').map(Number)
const PERIOD = Number(process.env.PERIOD ?? 1000)
/** Joins at once while a graph is built (its build time is not measured). */
const BATCH = Number(process.env.BATCH ?? 16)
/** Longest any one wait (a side's repair, a merge) may take before the run is reported as not converged, in ms. */
const LIMIT_MS = Number(process.env.LIMIT_MS ?? 600_000)
const out = join(dirname(fileURLToPath(import.meta.url)), '../../../docs/benchmarks')

const sent = (members) => members.reduce((s, m) => s + m.node.metrics().messagesSent, 0)
const sum = (members, key) => members.reduce((s, m) => s + m.node.metrics()[key], 0)

/** Members on one MemoryHub whose contacts are `room.ids` (set later), checking every PERIOD ms. */
function cluster(seed) {
  const random = rng(seed)
  const hub = new MemoryHub({ seed })
  const room = { ids: [] }
  const options = { probeIntervalMs: PERIOD, mergeCheckMs: PERIOD, contacts: () => room.ids }
  const make = () => {
    const id = randomId(random)
    return makeMember({ id, manager: hub.connectionManager(id), random, options })
  }
  return { random, hub, room, make }
}

/**
 * Waits for `wait` (bounded by LIMIT_MS) and measures it: wall time, messages sent by `members` meanwhile, and
 * whether it converged.
 */
async function measure(members, wait) {
  const before = sent(members)
  const t0 = performance.now()
  let converged = true
  try {
    await wait(AbortSignal.timeout(LIMIT_MS))
  } catch (err) {
    converged = false
    console.error(err.message.slice(0, 500))
  }
  const messages = sent(members) - before
  return {
    ms: Math.round(performance.now() - t0),
    messages,
    perNode: round(messages / members.length),
    converged,
  }
}

async function mergeRun(n) {
  const { random, room, make } = cluster(2026 + n)
  const t0 = performance.now()
  const a = await joinInBatches(n / 2, make, random, BATCH)
  const b = await joinInBatches(n / 2, make, random, BATCH)
  const buildMs = performance.now() - t0
  const all = [...a, ...b]
  const nodes = all.map((m) => m.node)
  const result = await measure(all, (signal) => {
    room.ids = nodes.map((x) => x.identity.id)
    return oneGraph(nodes, signal)
  })
  const moves = sum(all, 'merges')
  await stopAll(all)
  return { kind: 'merge', n, ...result, moves, buildMs: Math.round(buildMs), loadAvg: loadavg().map(round) }
}

async function healRun(n) {
  const { random, hub, room, make } = cluster(4052 + n)
  const t0 = performance.now()
  const all = await joinInBatches(n, make, random, BATCH)
  const buildMs = performance.now() - t0
  room.ids = all.map((m) => m.node.identity.id)
  const sides = [[], []]
  for (const m of all) sides[random() < 0.5 ? 0 : 1].push(m)
  const ids = (side) => side.map((m) => m.node.identity.id)
  const split = await measure(all, (signal) => {
    hub.partition(ids(sides[0]), ids(sides[1]))
    return Promise.all(
      sides.map((side) =>
        repaired(
          side.map((m) => m.node),
          signal,
        ),
      ),
    )
  })
  const healed = split.converged
    ? await measure(all, (signal) => {
        hub.heal()
        return oneGraph(
          all.map((m) => m.node),
          signal,
        )
      })
    : undefined
  const moves = sum(all, 'merges')
  await stopAll(all)
  return {
    kind: 'heal',
    n,
    halves: sides.map((s) => s.length),
    repairMs: split.ms,
    repairMessages: split.messages,
    repairConverged: split.converged,
    ...(healed ?? { ms: null, messages: null, perNode: null, converged: false }),
    moves,
    buildMs: Math.round(buildMs),
    loadAvg: loadavg().map(round),
  }
}

const loadStart = loadavg().map(round)
const results = []
for (const [measure, sizes] of [
  [mergeRun, SIZES],
  [healRun, HEAL_SIZES],
]) {
  for (const n of sizes) {
    results.push(await measure(n))
    console.log(JSON.stringify(results.at(-1)))
  }
}
const meta = {
  date: new Date().toISOString(),
  node: process.version,
  transport: 'MemoryHub, zero latency',
  machine: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, shared`,
  periodMs: PERIOD,
  loadAvgStart: loadStart,
  loadAvgEnd: loadavg().map(round),
}
mkdirSync(out, { recursive: true })
const suffix = process.env.OUT_SUFFIX ?? ''
writeFileSync(join(out, `merge${suffix}.json`), `${JSON.stringify({ meta, results }, null, 2)}\n`)
const cell = (x) => (x === null || x === undefined ? '–' : String(x))
const md = [
  '# Merging skip graphs (MemoryHub)',
  '',
  `Generated by \`npm run bench:merge -w @skipmesh/skipgraph\` on ${meta.date} (Node ${meta.node}, ${meta.transport}, ${meta.machine}; load average ${meta.loadAvgStart.join(', ')} at the start, ${meta.loadAvgEnd.join(', ')} at the end).`,
  `Probes and merge checks every ${PERIOD} ms (±50 %). A message is one skip-graph protocol message (checks, searches, locks, reads, applies, hints, probes), counted from the wait's start to its end over all n nodes.`,
  '',
  '## Merge: two graphs of n/2 nodes formed apart',
  '',
  `Both graphs are built by joins (${BATCH} at a time) with no contact across; then every node gets all n as contacts (the signaling room). Time: until every node is joined, none merging, no dead entry, and the checker finds one correct graph. Moves: nodes that left their graph and joined the other.`,
  '',
  '| n | time to one graph (s) | messages | per node | moves | converged | load (1 min) |',
  '|---:|---:|---:|---:|---:|---|---:|',
  ...results
    .filter((r) => r.kind === 'merge')
    .map(
      (r) =>
        `| ${r.n} | ${round(r.ms / 1000)} | ${r.messages} | ${r.perNode} | ${r.moves} | ${r.converged ? 'yes' : 'no'} | ${r.loadAvg[0]} |`,
    ),
  '',
  '## Heal: one graph of n nodes partitioned into two random halves',
  '',
  'After `hub.partition(a, b)` each half repairs into a correct graph of its own (repair time and messages); then `hub.heal()`, and the time and messages until one graph again (moves: nodes that left their half and joined the other).',
  '',
  '| n | halves | halves repaired after (s) | repair messages | time from heal to one graph (s) | messages | per node | moves | converged | load (1 min) |',
  '|---:|---|---:|---:|---:|---:|---:|---:|---|---:|',
  ...results
    .filter((r) => r.kind === 'heal')
    .map(
      (r) =>
        `| ${r.n} | ${r.halves.join(' / ')} | ${round(r.repairMs / 1000)}${r.repairConverged ? '' : ' (not repaired)'} | ${r.repairMessages} | ${r.ms === null ? '–' : round(r.ms / 1000)} | ${cell(r.messages)} | ${cell(r.perNode)} | ${r.moves} | ${r.converged ? 'yes' : 'no'} | ${r.loadAvg[0]} |`,
    ),
  '',
]
writeFileSync(join(out, `merge${suffix}.md`), md.join('\n'))
console.log(`wrote ${join(out, `merge${suffix}.md`)}`)
process.exit(0)

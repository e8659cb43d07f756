// The join storm (issue 12): over MemoryHub links with a one-way latency drawn per message, 16 nodes join (15
// at once through the first), then JOINERS nodes join at once, each through one of the 16 (a join that fails typed resumes,
// up to 5 times; its messages count). Per run: the time until every joiner joined, messages per join by kind
// (every member's metrics, from the storm's start until the last join), typed failures, and the checker's verdict
// afterwards. Rows: one-way latency 5-20 ms and 20-300 ms, probes off and every 2 s (the default), each run with
// the baseline build (the probe files as they were at BASELINE_REF) and the current source, alternately, on the
// same seed (the same identities and introducers); with probes off no probe code runs, so those rows run the
// current build only unless OFF_BASELINE=1. Writes docs/benchmarks/join-storm.{json,md}.
// RENDER=<json> [NOTE=<text>] rewrites the document from a run's JSON. Not run in CI. `npm run bench:join-storm`; ROWS=fast-on,slow-on, JOINERS=240, SLOW_JOINERS=240, VARIANTS=current, SETTLED_S=10, REPS=1.
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { MemoryHub } from '@skipmesh/core'
import { makeMember, randomId, stopAll } from './graph.mjs'
import { KINDS, round, rng } from './stats.mjs'
import { buildVariant, shortRef } from './variants.mjs'

/** The last commit with the probe scheme of before issue 12's one-probe-per-pair change. */
const BASELINE_REF = process.env.BASELINE_REF ?? '7a4896a'
/** The files of the probe scheme (paths under src/); the baseline takes them from BASELINE_REF. */
const PROBE_FILES = ['liveness.ts', 'wire.ts', 'wire-codec.ts', 'responder.ts']
const JOINERS = Number(process.env.JOINERS ?? 240)
const SLOW_JOINERS = Number(process.env.SLOW_JOINERS ?? 240)
const ROW_NAMES = (process.env.ROWS ?? 'fast-off,fast-on,slow-off,slow-on').split(',')
const VARIANT_NAMES = (process.env.VARIANTS ?? 'baseline,current').split(',')
const OFF_BASELINE = process.env.OFF_BASELINE === '1'
const REPS = Number(process.env.REPS ?? 1)
/** Seconds the settled graph is watched after a storm with probes on (its reads per node and second). */
const SETTLED_S = Number(process.env.SETTLED_S ?? 10)
const out = join(dirname(fileURLToPath(import.meta.url)), '../../../docs/benchmarks')

const ROWS = {
  'fast-off': { latency: { min: 5, max: 20 }, probeIntervalMs: 0, joiners: JOINERS },
  'fast-on': { latency: { min: 5, max: 20 }, probeIntervalMs: 2000, joiners: JOINERS },
  'slow-off': { latency: { min: 20, max: 300 }, probeIntervalMs: 0, joiners: SLOW_JOINERS },
  'slow-on': { latency: { min: 20, max: 300 }, probeIntervalMs: 2000, joiners: SLOW_JOINERS },
}

/** The package's source files that differ from the last commit. */
function uncommittedSources() {
  const cwd = join(dirname(fileURLToPath(import.meta.url)), '..')
  const status = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd, encoding: 'utf8' })
  return status
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => l.slice(3))
}

/** Every member's messages sent so far, in all and by kind. */
function sent(members) {
  const byKind = Object.fromEntries(KINDS.map((k) => [k, 0]))
  let total = 0
  for (const m of members) {
    const x = m.node.metrics()
    total += x.messagesSent
    for (const k of KINDS) byKind[k] += x.sentByKind[k]
  }
  return { total, byKind }
}

async function run(rowName, variantName, build) {
  const row = ROWS[rowName]
  const seed = 1
  // identities and introducers from their own PRNG: the same in both builds whatever the nodes draw meanwhile
  const draw = rng(seed * 7919 + 17)
  const random = rng(seed)
  const hub = new MemoryHub({ seed, latency: row.latency })
  const create = build.main.createSkipGraphNode
  const options = { probeIntervalMs: row.probeIntervalMs, mergeCheckMs: 0 }
  const ids = Array.from({ length: 16 + row.joiners }, () => randomId(draw))
  const add = (id) => makeMember({ id, manager: hub.connectionManager(id), random, options, create })
  // the 16 join at once through the first (one after the other they take ~150 s at 20-300 ms)
  const members = [await add(ids[0])]
  await members[0].node.join()
  const rest = []
  for (let i = 1; i < 16; i++) rest.push(await add(ids[i]))
  await Promise.all(rest.map((m) => m.node.join(ids[0])))
  members.push(...rest)
  const introducers = members.map((m) => m.node.identity.id)
  const joiners = []
  for (let i = 16; i < ids.length; i++) joiners.push(await add(ids[i]))
  const picks = joiners.map(() => introducers[Math.floor(draw() * introducers.length)])
  members.push(...joiners)
  const load = [loadavg()[0]]
  const before = sent(members)
  const failures = {}
  const t0 = performance.now()
  await Promise.all(
    joiners.map(async (m, i) => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await m.node.join(attempt === 0 ? picks[i] : introducers[(i + attempt) % introducers.length])
        } catch (err) {
          failures[err.name] = (failures[err.name] ?? 0) + 1
          if (attempt >= 5) throw err
        }
      }
    }),
  )
  const joinedMs = performance.now() - t0
  const after = sent(members)
  load.push(loadavg()[0])
  const violations = build.testing.checkSkipGraph(members.map((m) => m.node)).length
  // the probes' own cost once the graph is settled (with probes off nothing is sent then)
  let settledReads = null
  if (row.probeIntervalMs > 0 && SETTLED_S > 0) {
    const t1 = performance.now()
    await new Promise((resolve) => setTimeout(resolve, SETTLED_S * 1000))
    const s = (performance.now() - t1) / 1000
    settledReads = round((sent(members).byKind.Read - after.byKind.Read) / members.length / s)
  }
  await stopAll(members)
  const per = (x) => round(x / row.joiners)
  const byKind = Object.fromEntries(KINDS.map((k) => [k, per(after.byKind[k] - before.byKind[k])]))
  return {
    row: rowName,
    variant: variantName,
    latency: `${row.latency.min}-${row.latency.max} ms`,
    probeIntervalMs: row.probeIntervalMs,
    joiners: row.joiners,
    joinedS: round(joinedMs / 1000),
    messagesPerJoin: per(after.total - before.total),
    perJoin: byKind,
    searchMsgsPerJoin: round(byKind.Search + byKind.SearchResult + byKind.SearchFail),
    failures,
    violations,
    settledReadsPerNodePerS: settledReads,
    load1: load.map(round),
  }
}

/** Builds and runs the selected rows; returns the document's meta and results. */
async function measure() {
  const ref = shortRef(BASELINE_REF)
  // the source files of the package that differ from the last commit as the builds are made (a shared tree)
  const uncommitted = uncommittedSources()
  const builds = {}
  for (const name of VARIANT_NAMES) {
    builds[name] =
      name === 'baseline'
        ? await buildVariant({
            name: 'join-storm-baseline',
            ref: BASELINE_REF,
            fromRef: PROBE_FILES,
            // the baseline's responder reads without the origin
            patch: (file, text) =>
              file === 'node.ts'
                ? text.replace('this.#responder.read(origin, msg)', 'this.#responder.read(msg)')
                : text,
          })
        : await buildVariant({ name: 'join-storm-current' })
  }
  const results = []
  const loadStart = loadavg().map(round)
  for (const rowName of ROW_NAMES) {
    // REPS runs of each build, the order of the builds alternating from one to the next
    for (let rep = 0; rep < REPS; rep++) {
      const order = rep % 2 === 0 ? VARIANT_NAMES : [...VARIANT_NAMES].reverse()
      for (const variantName of order) {
        if (variantName === 'baseline' && ROWS[rowName].probeIntervalMs === 0 && !OFF_BASELINE) continue
        const r = await run(rowName, variantName, builds[variantName])
        console.log(JSON.stringify(r))
        results.push(r)
      }
    }
  }
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    transport: 'MemoryHub, one-way latency drawn per message',
    baseline: `the probe files (${PROBE_FILES.join(', ')}) as at ${ref}, the rest of today's source`,
    current: "today's source",
    uncommitted,
    loadAvgStart: loadStart,
    loadAvgEnd: loadavg().map(round),
  }
  return { meta, results }
}

// RENDER=<json> writes the document again from a run's JSON (NOTE=<text> adds a note under its header)
const { meta, results } = process.env.RENDER
  ? JSON.parse(readFileSync(process.env.RENDER, 'utf8'))
  : await measure()
if (process.env.NOTE) meta.note = process.env.NOTE
mkdirSync(out, { recursive: true })
const suffix = process.env.OUT_SUFFIX ?? ''
writeFileSync(join(out, `join-storm${suffix}.json`), `${JSON.stringify({ meta, results }, null, 2)}\n`)
writeFileSync(join(out, `join-storm${suffix}.md`), markdown(meta, results))

/** The mean of the runs' figures that the ratios use (undefined without runs). */
function meanOf(runs) {
  if (runs.length === 0) return undefined
  const m = (f) => round(runs.reduce((s, r) => s + f(r), 0) / runs.length)
  return {
    ...runs[0],
    joinedS: m((r) => r.joinedS),
    messagesPerJoin: m((r) => r.messagesPerJoin),
    perJoin: { Read: m((r) => r.perJoin.Read) },
    settledReadsPerNodePerS:
      runs[0].settledReadsPerNodePerS === null ? null : m((r) => r.settledReadsPerNodePerS),
  }
}

function markdown(meta, results) {
  const ratio = (a, b) => (a > 0 ? round(b / a) : '–')
  const lines = [
    '# Join storm (issue 12)',
    '',
    `Generated by \`npm run bench:join-storm -w @skipmesh/skipgraph\` on ${meta.date} (Node ${meta.node}, ${meta.transport}),`,
    `load average (1 min) ${meta.loadAvgStart[0]} at the start and ${meta.loadAvgEnd[0]} at the end (2 cores, shared).`,
    '16 nodes join (15 at once through the first), then the joiners all at once, each through a random one of the 16; a join',
    'that fails typed resumes (up to 5 times) and its messages count. Per join: every member’s messages from the',
    'storm’s start until the last join, divided by the joiners. Baseline: ' +
      `${meta.baseline}; current: ${meta.current}.`,
    'Probes every 2 s is the default (`probeIntervalMs`); with probes off no probe code runs in either build, so',
    'those rows run the current build only (OFF_BASELINE=1 runs both).',
    ...(meta.uncommitted?.length > 0
      ? [`Uncommitted source in the tree during the run (both builds): ${meta.uncommitted.join(', ')}.`]
      : []),
    ...(meta.note ? ['', meta.note] : []),
    '',
    `Settled: reads per node and second in the ${SETTLED_S} s after the storm (the graph of all nodes, probes only).`,
    '',
    '| latency (one way) | probes | joiners | build | all joined after (s) | messages per join | Read | Lock | LockReply | Search+Result+Fail | typed join failures | checker | settled reads /node/s | load (1 min) |',
    '| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |',
  ]
  for (const r of results) {
    const fails = Object.entries(r.failures)
      .map(([k, v]) => `${v} ${k}`)
      .join(', ')
    lines.push(
      `| ${r.latency} | ${r.probeIntervalMs === 0 ? 'off' : `${r.probeIntervalMs / 1000} s`} | ${r.joiners} | ${r.variant} | ${r.joinedS} | ${r.messagesPerJoin} | ${r.perJoin.Read} | ${r.perJoin.Lock} | ${r.perJoin.LockReply} | ${r.searchMsgsPerJoin} | ${fails || '0'} | ${r.violations === 0 ? 'clean' : `${r.violations} violations`} | ${r.settledReadsPerNodePerS ?? '–'} | ${r.load1.join(' → ')} |`,
    )
  }
  lines.push(
    '',
    '| latency | probes | current / baseline (means over the runs): time | messages per join | Read per join | settled reads /node/s |',
    '| --- | --- | ---: | ---: | ---: | ---: |',
  )
  for (const rowName of ROW_NAMES) {
    const b = meanOf(results.filter((r) => r.row === rowName && r.variant === 'baseline'))
    const c = meanOf(results.filter((r) => r.row === rowName && r.variant === 'current'))
    if (b === undefined || c === undefined) continue
    lines.push(
      `| ${c.latency} | ${c.probeIntervalMs === 0 ? 'off' : `${c.probeIntervalMs / 1000} s`} | ${ratio(b.joinedS, c.joinedS)} | ${ratio(b.messagesPerJoin, c.messagesPerJoin)} | ${ratio(b.perJoin.Read, c.perJoin.Read)} | ${ratio(b.settledReadsPerNodePerS, c.settledReadsPerNodePerS)} |`,
    )
  }
  return `${lines.join('\n')}\n`
}

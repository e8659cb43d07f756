// The demo's join storm on MemoryHub (issue 12): TABS groups ("tabs") of PER_TAB nodes join one graph as the demo's
// tabs do (apps/demo/src/join.ts): the lowest node of tab 0 starts the graph; every other node joins through a joined
// node of its own tab when there is one, else through a joined node of another tab, in waves (one join per joined
// node of the tab at once, at least 8), each attempt cut once it linked no new level for 20 s and queued again;
// merge checks on (every 2 s) with the demo's contacts (the 4 lowest nodes of each other tab), probes every 2 s. Per
// build: the time until 25 / 50 / 100 % joined, messages per joined node by kind, merge checks, hops sent again,
// typed failures, the checker's verdict, and the settled graph's messages per node and second.
// DIAG=1 counts the reads, locks and searches by where they were sent from (a patched copy of the build).
// `node bench/tab-storm.mjs` (BUILDS=baseline,current; BASELINE_REF=HEAD; PER_TAB=64; LATENCY=5-20; SETTLED_S=10;
// LIMIT_S=300; as the demo: RAMP=waves with WAVE_MIN=8 (RAMP=flat: CONCURRENT=8 at once, the demo before),
// JOIN_TIMEOUT_S=20 and CUTS=stall (`attempt`: JOIN_TIMEOUT_S after the attempt started, the demo before; a list
// runs each build with each cut on the same identities)). Prints one JSON line per run; not run in CI.
import { execFileSync } from 'node:child_process'
import { loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { MemoryHub } from '@skipmesh/core'
import { makeMember, randomId, stopAll } from './graph.mjs'
import { KINDS, round, rng } from './stats.mjs'
import { buildVariant, shortRef } from './variants.mjs'

/** As the demo: joins of one tab at once, the cut of one attempt, contacts per other tab. */
const CONCURRENT_JOINS = Number(process.env.CONCURRENT ?? 8)
const JOIN_TIMEOUT_MS = Number(process.env.JOIN_TIMEOUT_S ?? 20) * 1000
/** `flat`: CONCURRENT joins per tab at once (the demo before); `waves`: one per joined node of the tab, at least WAVE_MIN. */
const RAMP = process.env.RAMP ?? 'waves'
const WAVE_MIN = Number(process.env.WAVE_MIN ?? 8)
const ASKED_PER_HOST = 4

/** Where the DIAG counters are inserted: [file, a statement's start, counter]. */
const DIAG_SITES = [
  [
    'liveness.ts',
    'const reply = await this.#init.messenger.request(id, { kind: Kind.Read, levels: [0] }',
    'holderRead',
  ],
  ['liveness.ts', 'reply = await this.#init.messenger.request(id, read, undefined)', 'probeRead'],
  ['list-check.ts', 'reply = await this.#init.messenger.request(', 'listRead'],
  ['merge.ts', 'return await this.#init.messenger.request(id, { kind: Kind.Read', 'mergeRead'],
  ['merge.ts', 'return await this.#init.search(target, via)', 'mergeSearch'],
  ['repair.ts', 'const st = await this.#init.messenger.request(x, { kind: Kind.Read', 'repairRead'],
  ['transactions.ts', 'return this.#levels(txn, node, { kind: Kind.Read, levels })', 'txnRead'],
  ['transactions.ts', 'const reply = await this.#levels(txn, node, { kind: Kind.Lock', 'txnLock'],
  ['transactions.ts', 'this.#init.messenger.request(id, msg, undefined).catch(() => {})', 'renewLock'],
  ['linking.ts', 'return await this.#init.searchVia(me, introducer, signal)', 'joinSearch'],
]

/**
 * The signal of one join attempt of `node` and a `stop()` for when it ended: `attempt` cuts it `ms` after it
 * started, `stall` once the node linked no new level for `ms` (looked at every second, as the demo does).
 */
function attemptCut(cut, node, ms) {
  if (cut === 'attempt') return { signal: AbortSignal.timeout(ms), stop() {} }
  const controller = new AbortController()
  const linked = () => node.lookupTable().levels.length
  let levels = linked()
  let since = performance.now()
  const timer = setInterval(() => {
    const now = performance.now()
    if (linked() > levels) {
      levels = linked()
      since = now
    } else if (now - since >= ms) {
      clearInterval(timer)
      controller.abort()
    }
  }, 1000)
  return { signal: controller.signal, stop: () => clearInterval(timer) }
}

/** Inserts the DIAG counters into one source file. */
export function diagPatch(file, text) {
  let out = text
  for (const [f, anchor, name] of DIAG_SITES) {
    if (f !== file) continue
    if (!out.includes(anchor)) throw new Error(`DIAG: ${anchor} not found in ${file}`)
    out = out.replace(anchor, `globalThis.__diag[${JSON.stringify(name)}]++;${anchor}`)
  }
  return out
}

function freshDiag() {
  globalThis.__diag = Object.fromEntries(DIAG_SITES.map(([, , n]) => [n, 0]))
}

function sent(members) {
  const byKind = Object.fromEntries(KINDS.map((k) => [k, 0]))
  let total = 0
  let mergeChecks = 0
  let searchRetries = 0
  for (const m of members) {
    const x = m.node.metrics()
    total += x.messagesSent
    mergeChecks += x.mergeChecks
    searchRetries += x.searchRetries
    for (const k of KINDS) byKind[k] += x.sentByKind[k]
  }
  return { total, byKind, mergeChecks, searchRetries, diag: { ...(globalThis.__diag ?? {}) } }
}

function diff(a, b, div) {
  const per = (x) => round(x / div)
  return {
    total: per(b.total - a.total),
    byKind: Object.fromEntries(KINDS.map((k) => [k, per(b.byKind[k] - a.byKind[k])])),
    mergeChecks: per(b.mergeChecks - a.mergeChecks),
    /** Search hops sent again while unanswered (each is a Search and, answered, a second reply). */
    searchRetries: per(b.searchRetries - a.searchRetries),
    diag: Object.fromEntries(Object.keys(b.diag).map((k) => [k, per(b.diag[k] - (a.diag[k] ?? 0))])),
  }
}

/** One storm of `tabs` × `perTab` nodes with `build`; resolves with its figures. */
export async function tabStorm({
  build,
  name,
  cut = 'stall',
  tabs,
  perTab,
  latency,
  settledS,
  limitS,
  seed = 1,
}) {
  freshDiag()
  const draw = rng(seed * 7919 + 17)
  const random = rng(seed)
  const hub = new MemoryHub({ seed, latency })
  const ids = Array.from({ length: tabs }, () => Array.from({ length: perTab }, () => randomId(draw)))
  const asked = ids.map((tab) => [...tab].sort((a, b) => a.compare(b)).slice(0, ASKED_PER_HOST))
  const contacts = ids.map((_, t) => asked.flatMap((a, u) => (u === t ? [] : a)))
  const options = (t) => ({ probeIntervalMs: 2000, mergeCheckMs: 2000, contacts: () => contacts[t] })
  const tabOf = []
  const members = []
  for (let t = 0; t < tabs; t++) {
    for (const id of ids[t]) {
      const m = await makeMember({
        id,
        manager: hub.connectionManager(id),
        random,
        options: options(t),
        create: build.main.createSkipGraphNode,
      })
      members.push(m)
      tabOf.push(t)
    }
  }
  const joined = new Set()
  const joinedAt = []
  const failures = {}
  const load = [loadavg()[0]]
  const before = sent(members)
  const t0 = performance.now()
  const pioneer = members.findIndex((m) => m.node.identity.id.equals(asked[0][0]))
  await members[pioneer].node.join()
  joined.add(pioneer)
  joinedAt.push(0)
  const pick = (xs) => xs[Math.floor(draw() * xs.length)]
  const deadline = t0 + limitS * 1000
  const runTab = async (t) => {
    let running = 0
    const waiting = []
    // joins of this tab at once: CONCURRENT, or with RAMP=waves one per joined node of the tab (at least WAVE_MIN)
    const limit = () =>
      RAMP === 'waves'
        ? Math.max(WAVE_MIN, [...joined].filter((j) => tabOf[j] === t).length)
        : CONCURRENT_JOINS
    const turn = () => {
      if (running >= limit()) return new Promise((r) => waiting.push(r))
      running++
      return Promise.resolve()
    }
    const done = () => {
      running--
      while (waiting.length > 0 && running < limit()) {
        running++
        waiting.shift()()
      }
    }
    const joinOne = async (i) => {
      for (;;) {
        if (performance.now() > deadline) return
        const local = [...joined].filter((j) => tabOf[j] === t)
        const pool = local.length > 0 ? local : [...joined].filter((j) => tabOf[j] !== t)
        if (pool.length === 0) {
          await new Promise((r) => setTimeout(r, 200))
          continue
        }
        const via = members[pick(pool)].node.identity.id
        await turn()
        const attempt = attemptCut(cut, members[i].node, JOIN_TIMEOUT_MS)
        try {
          await members[i].node.join(via, { signal: attempt.signal })
          joined.add(i)
          joinedAt.push(performance.now() - t0)
          return
        } catch (err) {
          failures[err.name] = (failures[err.name] ?? 0) + 1
        } finally {
          attempt.stop()
          done()
        }
        await new Promise((r) => setTimeout(r, 150))
      }
    }
    await Promise.all(
      members
        .map((_, i) => i)
        .filter((i) => tabOf[i] === t && i !== pioneer)
        .map(joinOne),
    )
  }
  await Promise.all(Array.from({ length: tabs }, (_, t) => runTab(t)))
  const stormMs = performance.now() - t0
  const after = sent(members)
  load.push(loadavg()[0])
  const total = tabs * perTab
  const mark = (k) => (joinedAt.length >= k ? round(joinedAt.sort((a, b) => a - b)[k - 1] / 1000) : null)
  let settled = null
  if (settledS > 0 && joined.size === total) {
    const s0 = sent(members)
    const t1 = performance.now()
    await new Promise((r) => setTimeout(r, settledS * 1000))
    settled = diff(s0, sent(members), total * ((performance.now() - t1) / 1000))
  }
  const violations =
    joined.size === total ? build.testing.checkSkipGraph(members.map((m) => m.node)).length : null
  await stopAll(members)
  load.push(loadavg()[0])
  return {
    build: name,
    cut,
    ramp: RAMP === 'waves' ? `waves (at least ${WAVE_MIN})` : `${CONCURRENT_JOINS} at once`,
    nodes: `${tabs} × ${perTab}`,
    latency: `${latency.min}-${latency.max} ms`,
    joined: joined.size,
    joinedS: { quarter: mark(Math.ceil(total / 4)), half: mark(Math.ceil(total / 2)), all: mark(total) },
    stormS: round(stormMs / 1000),
    perJoined: diff(before, after, joined.size),
    failures,
    violations,
    settledPerNodePerS: settled,
    load1: load.map(round),
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const ref = process.env.BASELINE_REF ?? 'HEAD'
  const pkg = join(dirname(fileURLToPath(import.meta.url)), '..')
  const all = execFileSync('git', ['ls-tree', '-r', '--name-only', ref, '--', 'src'], {
    cwd: pkg,
    encoding: 'utf8',
  })
    .split('\n')
    .filter((p) => p.endsWith('.ts'))
    .map((p) => p.replace(/^src\//, ''))
  const diag = process.env.DIAG === '1'
  const patch = diag ? diagPatch : undefined
  const builds = {}
  for (const name of (process.env.BUILDS ?? 'baseline,current').split(',')) {
    builds[name] =
      name === 'baseline'
        ? await buildVariant({ name: 'tab-storm-baseline', ref, fromRef: all, patch })
        : await buildVariant({ name: 'tab-storm-current', patch })
  }
  const [min, max] = (process.env.LATENCY ?? '5-20').split('-').map(Number)
  const reps = Number(process.env.REPS ?? 1)
  const cuts = (process.env.CUTS ?? 'stall').split(',')
  const runs = Object.keys(builds).flatMap((name) => cuts.map((cut) => ({ name, cut })))
  for (let rep = 0; rep < reps; rep++) {
    for (const { name, cut } of rep % 2 === 0 ? runs : [...runs].reverse()) {
      const r = await tabStorm({
        build: builds[name],
        name: name === 'baseline' ? `baseline (${shortRef(ref)})` : name,
        cut,
        tabs: Number(process.env.TABS ?? 4),
        perTab: Number(process.env.PER_TAB ?? 64),
        latency: { min, max },
        settledS: Number(process.env.SETTLED_S ?? 10),
        limitS: Number(process.env.LIMIT_S ?? 300),
      })
      console.log(JSON.stringify(r))
    }
  }
  process.exit(0)
}

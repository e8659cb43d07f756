/**
 * `node bench/profile.mjs [size] [count]`: where the conduit's time goes in Chromium. Runs the conduit bulk
 * measurement (default 100 B × 20,000) between two browser contexts with the V8 CPU profiler on in both pages,
 * and prints each side's top functions by self time (and by package). Diagnosis only; writes nothing.
 */
import { fileURLToPath } from 'node:url'
import { createJsonLogger, createSignalingServer } from '@skipmesh/signaling-server'
import { chromium } from 'playwright-core'
import { build } from 'vite'
import { launchOptions } from '../../../scripts/chromium.mjs'
import { openHarness } from '../test-browser/pages.mjs'

const size = Number(process.argv[2] ?? 100)
const count = Number(process.argv[3] ?? 20_000)
const here = (p) => fileURLToPath(new URL(p, import.meta.url))

/** Self time per function and per source bucket from a V8 `Profiler.Profile`. */
function selfTimes(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const hits = new Map()
  const dt = profile.timeDeltas
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]
    hits.set(id, (hits.get(id) ?? 0) + (dt[i] ?? 0))
  }
  const fns = new Map()
  const buckets = new Map()
  let total = 0
  for (const [id, us] of hits) {
    const n = byId.get(id)
    const { functionName, url, lineNumber } = n.callFrame
    const key =
      `${functionName || '(anonymous)'} ${url ? `${url.split('/').pop()}:${lineNumber + 1}` : ''}`.trim()
    fns.set(key, (fns.get(key) ?? 0) + us)
    const bucket = url === '' ? functionName : 'bundle'
    buckets.set(bucket, (buckets.get(bucket) ?? 0) + us)
    total += us
  }
  const top = (m, k) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, k)
      .map(
        ([name, us]) =>
          `${((100 * us) / total).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${name}`,
      )
  return { totalMs: total / 1000, top: top(fns, 25), buckets: top(buckets, 8) }
}

await build({ configFile: here('../test-browser/harness/vite.config.ts'), logLevel: 'warn' })
const server = await createSignalingServer({
  port: 0,
  host: '127.0.0.1',
  staticDir: here('../test-browser/dist'),
  logger: createJsonLogger({ level: 'warn' }),
})
const browser = await chromium.launch(launchOptions())
try {
  const room = `profile-${process.pid}`
  const [a, b] = [await openHarness(browser, server.url), await openHarness(browser, server.url)]
  const idA = await a.evaluate(
    ([u, r]) => window.harness.mesh.start('n', { url: u, room: r }),
    [server.url, room],
  )
  const idB = await b.evaluate(
    ([u, r]) => window.harness.mesh.start('n', { url: u, room: r }),
    [server.url, room],
  )
  await b.evaluate(([peer]) => window.harness.mesh.pipe('n', 'bench', peer, 'sink'), [idA])
  await a.evaluate(([peer]) => window.harness.mesh.pipe('n', 'bench', peer, 'driver'), [idB])
  await a.evaluate(([s]) => window.harness.mesh.bulk('n', 'bench', s, 2000), [size])
  const sessions = [await a.context().newCDPSession(a), await b.context().newCDPSession(b)]
  for (const s of sessions) {
    await s.send('Profiler.enable')
    await s.send('Profiler.setSamplingInterval', { interval: 100 })
    await s.send('Profiler.start')
  }
  const run = await a.evaluate(([s, c]) => window.harness.mesh.bulk('n', 'bench', s, c), [size, count])
  const [pa, pb] = await Promise.all(sessions.map((s) => s.send('Profiler.stop')))
  console.log(
    `conduit ${count} × ${size} B: ${run.ms.toFixed(0)} ms, ${((count / run.ms) * 1000).toFixed(0)} msgs/s`,
  )
  for (const [side, p] of [
    ['sender', pa],
    ['receiver', pb],
  ]) {
    const r = selfTimes(p.profile)
    console.log(
      `\n== ${side}: ${r.totalMs.toFixed(0)} ms sampled\n-- by bucket\n${r.buckets.join('\n')}\n-- top functions (self)\n${r.top.join('\n')}`,
    )
  }
} finally {
  await browser.close()
  await server.close()
}

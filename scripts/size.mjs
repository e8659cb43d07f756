#!/usr/bin/env node
// `npm run size`: the gzip size of a browser app's bundle, built by Vite with no configuration (production
// mode: minified, tree-shaken, no source maps) from the workspace packages' dist. Two apps:
//   core + webrtc             the webrtc README's set-up: a WebRTC connection manager and a Network over it
//   core + webrtc + skipgraph consumer/app/main.js, the app the consumer test installs from the tarballs
// Writes docs/benchmarks/size.md and size.json and prints the table. Budget: core + webrtc (socket.io-client
// included) at most 60 KB gzip. `--check` exits 1 when a bundle is over its budget. `--no-build` skips `tsc -b`.
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { build } from 'vite'

const root = fileURLToPath(new URL('..', import.meta.url))
const KB = 1024

const coreWebrtc = `import { Identifier, createNetwork, generateKeyPair } from '@skipmesh/core'
import { createWebRtcConnectionManager } from '@skipmesh/webrtc'

const connectionManager = createWebRtcConnectionManager({
  localId: Identifier.random(),
  keyPair: await generateKeyPair(),
  signaling: { url: location.origin, room: 'size' },
  rtc: { iceServers: [] },
})
const network = createNetwork({ connectionManager })
network.start()
await network.ready()
window.network = network
`

const apps = [
  { name: 'core + webrtc', source: coreWebrtc, budgetKB: 60 },
  {
    name: 'core + webrtc + skipgraph',
    source: readFileSync(join(root, 'consumer/app/main.js'), 'utf8'),
    budgetKB: undefined,
  },
]

/** The package a bundled module comes from, by its resolved path. */
function packageOf(id) {
  const ws = /\/packages\/([^/]+)\//.exec(id)
  if (ws !== null && !id.includes('/node_modules/')) return `@skipmesh/${ws[1]}`
  const nm = /.*\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(id)
  if (nm !== null) return nm[1]
  return 'app'
}

/** Builds `source` as the only module of an app; sizes of the JavaScript it emits and where it comes from. */
async function measure(source) {
  const entry = '\0size-entry.js'
  const output = await build({
    root,
    configFile: false,
    logLevel: 'silent',
    plugins: [
      {
        name: 'size-entry',
        resolveId: (id) => (id === 'size-entry' ? entry : undefined),
        load: (id) => (id === entry ? source : undefined),
      },
    ],
    build: { write: false, sourcemap: false, modulePreload: false, rollupOptions: { input: 'size-entry' } },
  })
  const chunks = (Array.isArray(output) ? output : [output])
    .flatMap((o) => o.output)
    .filter((c) => c.type === 'chunk')
  const code = chunks.map((c) => c.code).join('\n')
  const byPackage = new Map()
  for (const c of chunks) {
    for (const [id, m] of Object.entries(c.modules)) {
      const pkg = packageOf(id)
      byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + m.renderedLength)
    }
  }
  return {
    minified: Buffer.byteLength(code),
    gzip: gzipSync(code, { level: 9 }).length,
    packages: Object.fromEntries([...byPackage.entries()].sort((a, b) => b[1] - a[1])),
  }
}

const args = process.argv.slice(2)
if (!args.includes('--no-build')) {
  const tsc = spawnSync(join(root, 'node_modules/.bin/tsc'), ['-b'], { cwd: root, stdio: 'inherit' })
  if (tsc.status !== 0) process.exit(tsc.status ?? 1)
}

const vite = JSON.parse(readFileSync(join(root, 'node_modules/vite/package.json'), 'utf8')).version
const results = []
for (const app of apps) {
  const m = await measure(app.source)
  results.push({
    bundle: app.name,
    ...m,
    budgetGzip: app.budgetKB === undefined ? null : app.budgetKB * KB,
    withinBudget: app.budgetKB === undefined ? null : m.gzip <= app.budgetKB * KB,
  })
}

/** The most bytes `pkg` brings to any of the bundles. */
const largest = (pkg) => Math.max(...results.map((r) => r.packages[pkg] ?? 0))
const kb = (n) => `${(n / KB).toFixed(1)} KB`
const lines = [
  '# Bundle size',
  '',
  `Written by \`npm run size\` (scripts/size.mjs) on ${new Date().toISOString().slice(0, 10)}: Vite ${vite} with no`,
  'configuration builds a one-module app from the packages in production mode (minified, tree-shaken, no source',
  'maps); gzip at level 9. **Budget: core + webrtc, socket.io-client included, at most 60 KB gzip.**',
  '',
  '| bundle | minified | gzip | budget |',
  '| --- | ---: | ---: | --- |',
  ...results.map(
    (r) =>
      `| ${r.bundle} | ${kb(r.minified)} | ${kb(r.gzip)} | ${
        r.budgetGzip === null ? '—' : `${kb(r.budgetGzip)}: ${r.withinBudget ? 'within' : '**over**'}`
      } |`,
  ),
  '',
  'Where the bytes come from: module code as rendered into the bundle, before minification, by package.',
  '',
  `| package | ${results.map((r) => r.bundle).join(' | ')} |`,
  `| --- | ${results.map(() => '---:').join(' | ')} |`,
  ...[...new Set(results.flatMap((r) => Object.keys(r.packages)))]
    .sort((a, b) => largest(b) - largest(a))
    .map((p) => `| ${p} | ${results.map((r) => (p in r.packages ? kb(r.packages[p]) : '—')).join(' | ')} |`),
]
writeFileSync(join(root, 'docs/benchmarks/size.md'), `${lines.join('\n').trimEnd()}\n`)
writeFileSync(
  join(root, 'docs/benchmarks/size.json'),
  `${JSON.stringify({ vite, gzipLevel: 9, results }, null, 2)}\n`,
)
console.log(lines.slice(6, 8 + results.length).join('\n'))
console.log('\nwritten: docs/benchmarks/size.md, docs/benchmarks/size.json')
if (args.includes('--check') && results.some((r) => r.withinBudget === false)) {
  console.error('over budget')
  process.exit(1)
}

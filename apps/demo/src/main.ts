import './style.css'
import './graph.css'
import { Identifier } from '@skipmesh/core'
import { readConfig } from './config.js'
import { type SkipmeshApi, installApi } from './api.js'
import { type LogEntry, type SearchTrace, TabMesh } from './mesh.js'
import { GraphView } from './view.js'
import { short } from './graph.js'

function $(id: string): HTMLElement {
  const e = document.getElementById(id)
  if (e === null) throw new Error(`#${id} missing from index.html`)
  return e
}

const config = readConfig(window.location)
const mesh = new TabMesh({
  signalingUrl: config.signalingUrl,
  room: config.room,
  iceServers: config.iceServers,
  transport: config.transport,
  maxConnections: config.maxConnections,
})

const status = $('status')
const banner = $('banner')
const fromSelect = $('search-from') as HTMLSelectElement
const targetInput = $('search-target') as HTMLInputElement
const resultBox = $('search-result')
const historyList = $('history')
const logList = $('log')
const metricsTable = $('metrics') as HTMLTableElement
let shownSeq = 0

function setStatus(text: string, state: 'starting' | 'ready' | 'merging' | 'error'): void {
  status.textContent = text
  status.dataset.state = state
}

const view = new GraphView($('graph') as unknown as SVGSVGElement, (id) => {
  // first click on one of this tab's nodes chooses the start; any later click chooses the target and searches
  const local = mesh.localNodes().some((n) => n.hex === id && n.joined)
  if (local && fromSelect.value !== id && targetInput.value === '') {
    fromSelect.value = id
    view.select(id, null)
    return
  }
  targetInput.value = id
  view.select(fromSelect.value || null, id)
  void runSearch()
})

$('room-info').textContent = `room “${config.room}” · signaling ${config.signalingUrl} · ICE ${
  config.iceServers.length === 0
    ? 'host candidates only'
    : config.iceServers.map((s) => String(s.urls)).join(', ')
}`

function refreshLocal(): void {
  const nodes = mesh.localNodes()
  $('local-count').textContent = String(nodes.length)
  const joined = nodes.filter((n) => n.joined)
  const prev = fromSelect.value
  fromSelect.replaceChildren(
    ...joined.map((n) => {
      const o = document.createElement('option')
      o.value = n.hex
      o.textContent = `${short(n.hex, 8)}…`
      return o
    }),
  )
  if (joined.some((n) => n.hex === prev)) fromSelect.value = prev
  ;($('remove-node') as HTMLButtonElement).disabled = nodes.length === 0
  ;($('search-go') as HTMLButtonElement).disabled = joined.length === 0
}

function describeTrace(t: SearchTrace): string {
  if (t.error !== null) return `<span class="fail">failed</span> (${t.error}) after ${t.ms.toFixed(0)} ms`
  const verdict = t.found ? '<span class="ok">found</span>' : '<span class="closest">absent — closest</span>'
  const detours = t.hops.filter((h) => h.detour).length
  return `${verdict} <code>${short(t.result ?? '', 8)}</code> · ${t.hops.length} hops · ${t.ms.toFixed(0)} ms${
    detours > 0
      ? ` · <span class="fail">${detours} detour${detours > 1 ? 's' : ''} around dead neighbours</span>`
      : ''
  }`
}

function showTrace(t: SearchTrace, animate: boolean): void {
  shownSeq = t.seq
  if ([...fromSelect.options].some((o) => o.value === t.from)) fromSelect.value = t.from
  view.select(t.from, t.target)
  view.showRoute(t, animate)
  resultBox.classList.remove('muted')
  resultBox.innerHTML = `#${t.seq} <code>${short(t.from, 6)}</code> → <code>${short(t.target, 8)}</code>: ${describeTrace(t)}<br/><span class="muted">route: ${[
    `${short(t.from)}@L${t.startLevel}`,
    ...t.hops.map((h) => `${short(h.node)}@L${h.level}${h.detour ? '↯' : ''}`),
  ].join(' → ')}</span>`
  renderHistory()
}

function renderHistory(): void {
  const items = mesh.history().reverse()
  historyList.replaceChildren(
    ...items.slice(0, 20).map((t) => {
      const li = document.createElement('li')
      li.dataset.seq = String(t.seq)
      if (t.seq === shownSeq) li.className = 'shown'
      li.innerHTML = `<span class="muted">#${t.seq}</span> <code>${short(t.from)}</code> → <code>${short(t.target, 6)}</code> ${
        t.error !== null ? '<span class="fail">failed</span>' : t.found ? 'found' : 'closest'
      } · ${t.hops.length} hops · ${t.ms.toFixed(0)} ms`
      li.addEventListener('click', () => showTrace(t, true))
      return li
    }),
  )
}

/** Log lines not yet shown: written to the page in one batch a second (thousands arrive while many nodes join). */
const pendingLog: LogEntry[] = []
let logScheduled = false

function addLog(e: LogEntry): void {
  pendingLog.push(e)
  if (logScheduled) return
  logScheduled = true
  setTimeout(flushLog, 1000)
}

function flushLog(): void {
  logScheduled = false
  const items = pendingLog.splice(0).slice(-300)
  const fragment = document.createDocumentFragment()
  for (const e of items.reverse()) {
    const li = document.createElement('li')
    li.className = `k-${e.kind}`
    const time = document.createElement('time')
    time.textContent = new Date(e.at).toLocaleTimeString([], { hour12: false })
    const kind = document.createElement('span')
    kind.className = 'kind'
    kind.textContent = e.kind
    const text = document.createElement('span')
    text.textContent = e.text
    li.append(time, kind, text)
    fragment.append(li)
  }
  logList.prepend(fragment)
  while (logList.childElementCount > 300) logList.lastElementChild?.remove()
}

function renderMetrics(): void {
  const m = mesh.metrics()
  const fmt = (n: number): string =>
    n >= 1024 * 1024
      ? `${(n / 1048576).toFixed(1)} MiB`
      : n >= 1024
        ? `${(n / 1024).toFixed(1)} KiB`
        : `${n} B`
  const rows = Object.entries(m.channels)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(
      ([name, c]) =>
        `<tr data-channel="${name}"><td><code>${name}</code></td><td>${c.messagesSent}</td><td>${c.messagesReceived}</td><td>${fmt(c.bytesSent)}</td><td>${fmt(c.bytesReceived)}</td><td>${c.sendFailures + c.processorErrors}</td></tr>`,
    )
  metricsTable.innerHTML = `<tr><th>channel</th><th>sent</th><th>recv</th><th>out</th><th>in</th><th>fail</th></tr>${rows.join('')}<tr><td colspan="6" class="muted">connections: ${m.connections.active} open · ${m.connections.opened} opened · ${m.connections.closed} closed · ${m.decodeFailures + m.badFrames} bad frames dropped</td></tr>`
}

async function runSearch(): Promise<void> {
  const from = fromSelect.value
  const target = targetInput.value.trim().toLowerCase()
  if (from === '' || !/^[0-9a-f]{1,64}$/.test(target)) {
    resultBox.textContent = 'Choose a start node of this tab and a target id (hex, or click a node).'
    return
  }
  const trace = await mesh.search(from, target)
  targetInput.value = ''
  showTrace(trace, true)
}

/** The status line: the graph's size, and the nodes of this tab moving into another graph they found. */
function renderStatus(): void {
  const s = mesh.snapshot()
  const local = s.nodes.filter((n) => n.local).length
  if (mesh.problem() !== null || local === 0) return
  const merging = mesh.localNodes().filter((n) => n.merging).length
  setStatus(
    `${s.nodes.length} nodes in the graph · ${local} in this tab${merging > 0 ? ` · ${merging} merging into another graph` : ''}`,
    merging > 0 ? 'merging' : 'ready',
  )
}

mesh.on('graph', (s) => {
  view.drawSoon(s)
  renderStatus()
  renderMetrics()
})
mesh.on('nodes', () => {
  refreshLocal()
  renderStatus()
})
mesh.on('log', addLog)
mesh.on('status', (problem) => {
  banner.hidden = problem === null
  banner.textContent = problem ?? ''
  if (problem !== null) setStatus('signaling server unreachable', 'error')
})

$('add-node').addEventListener('click', () => void api.addNode().catch(() => {}))
$('remove-node').addEventListener('click', () => {
  const last = mesh.localNodes().at(-1)
  if (last !== undefined) void mesh.removeNode(last.hex).catch(() => {})
})
;($('show-conns') as HTMLInputElement).addEventListener('change', (e) => {
  view.showConnections = (e.target as HTMLInputElement).checked
  view.draw(mesh.snapshot())
})
$('zoom-in').addEventListener('click', () => view.zoom.zoomBy(1.6))
$('zoom-out').addEventListener('click', () => view.zoom.zoomBy(1 / 1.6))
$('zoom-fit').addEventListener('click', () => view.zoom.fit())
;($('follow-route') as HTMLInputElement).addEventListener('change', (e) => {
  view.followRoute = (e.target as HTMLInputElement).checked
})
$('search-go').addEventListener('click', () => void runSearch())
targetInput.addEventListener('keydown', (e) => {
  if (e.key === 'Enter') void runSearch()
})
$('pick-present').addEventListener('click', () => {
  const nodes = mesh.snapshot().nodes
  const pick = nodes[Math.floor(Math.random() * nodes.length)]
  if (pick !== undefined) {
    targetInput.value = pick.id
    view.select(fromSelect.value || null, pick.id)
  }
})
$('pick-absent').addEventListener('click', () => {
  targetInput.value = Identifier.random().toHex()
  view.select(fromSelect.value || null, null)
})

const api: SkipmeshApi = installApi(window, mesh, config.nodes, {
  show: (t) => showTrace(t, true),
  draw: (s) => view.draw(s),
})
setStatus(
  config.nodes > 0 ? `starting ${config.nodes} node${config.nodes > 1 ? 's' : ''}…` : 'no nodes (add one)',
  'starting',
)
refreshLocal()
view.draw(mesh.snapshot())
renderMetrics()
setInterval(renderMetrics, 1000)
window.addEventListener('pagehide', () => void mesh.stopAll())

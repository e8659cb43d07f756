/**
 * The SVG picture: the skip graph as levels (level 0 at the bottom, every node ordered by identifier; level
 * i split into one row per list of nodes sharing an i-bit membership-vector prefix), this tab's nodes
 * ringed, live WebRTC connections as arcs under level 0, and a search's route drawn hop by hop.
 *
 * Every drawn element carries data attributes (`data-id`, `data-level`, `data-from`, `data-to`,
 * `data-hop-index`) so that tests can read the picture back.
 *
 * @module
 */
import { type GraphSnapshot, short } from './graph.js'
import type { SearchTrace } from './mesh.js'

const SVG = 'http://www.w3.org/2000/svg'
const MAX_ROW_H = 34
const MIN_ROW_H = 22
const BAND_GAP = 16
const MARGIN_LEFT = 92
const MARGIN_RIGHT = 96
const MARGIN_TOP = 26
const CONN_SPACE = 70
const LABEL_SPACE = 30
const R = 10
const HOP_STEP_MS = 420

function el<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number>,
  parent?: Element,
): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG, tag)
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v))
  parent?.appendChild(e)
  return e
}

/** This tab's colour. */
export const LOCAL_COLOR = '#38bdf8'
/** Other tabs' colours, given out in the order of their tab ids. */
const PALETTE = [
  '#f472b6',
  '#a3e635',
  '#fb923c',
  '#c084fc',
  '#facc15',
  '#2dd4bf',
  '#f87171',
  '#818cf8',
  '#e2e8f0',
]

/** Colours per tab: this tab sky blue, the others from a palette (in tab-id order, so every redraw agrees). */
export function tabColors(s: GraphSnapshot): Map<string, string> {
  const out = new Map<string, string>()
  const localTabs = new Set(s.nodes.filter((n) => n.local).map((n) => n.tab))
  for (const t of localTabs) out.set(t, LOCAL_COLOR)
  const others = [...new Set(s.nodes.map((n) => n.tab))].filter((t) => !localTabs.has(t)).sort()
  for (const [i, t] of others.entries()) out.set(t, PALETTE[i % PALETTE.length]!)
  return out
}

interface RowInfo {
  /** The lowest level the row stands for. */
  level: number
  /** The highest (rows of consecutive levels with identical lists and links are drawn once). */
  levelTo: number
  prefix: string
  y: number
  members: Set<string>
}

/** A run of consecutive levels whose lists and links are identical: drawn as one band. */
interface LevelGroup {
  from: number
  to: number
}

/**
 * Groups consecutive levels (level 0 always alone) whose multi-node lists and links are identical, e.g. two
 * nodes whose membership vectors share 20 bits would otherwise draw 20 identical rows.
 */
function levelGroups(s: GraphSnapshot): LevelGroup[] {
  const signature = (level: number): string =>
    JSON.stringify([
      s.lists.filter((l) => l.level === level).map((l) => l.members),
      s.edges.filter((e) => e.level === level).map((e) => [e.from, e.to]),
      s.deadEdges.filter((e) => e.level === level).map((e) => [e.from, e.to]),
    ])
  const groups: LevelGroup[] = [{ from: 0, to: 0 }]
  let prev = ''
  for (let level = 1; level <= s.topLevel; level++) {
    const sig = signature(level)
    const last = groups[groups.length - 1]!
    if (last.from > 0 && sig === prev) last.to = level
    else groups.push({ from: level, to: level })
    prev = sig
  }
  return groups
}

/** Draws snapshots and routes into one `<svg>`. */
export class GraphView {
  readonly svg: SVGSVGElement
  readonly #onNodeClick: (id: string) => void
  #snapshot: GraphSnapshot | undefined
  #rows: RowInfo[] = []
  #x = new Map<string, number>()
  #route: SearchTrace | undefined
  #routeShown = 0
  #routeTimer: ReturnType<typeof setTimeout> | undefined
  #selection = { from: null as string | null, target: null as string | null }
  showConnections = true

  constructor(svg: SVGSVGElement, onNodeClick: (id: string) => void) {
    this.svg = svg
    this.#onNodeClick = onNodeClick
  }

  /** Marks the chosen start and target nodes. */
  select(from: string | null, target: string | null): void {
    this.#selection = { from, target }
    if (this.#snapshot !== undefined) this.draw(this.#snapshot)
  }

  /** Redraws the whole picture (the route currently shown is kept). */
  draw(s: GraphSnapshot): void {
    this.#snapshot = s
    const svg = this.svg
    svg.replaceChildren()
    const n = s.nodes.length
    const colW = Math.max(34, Math.min(64, 1100 / Math.max(1, n)))
    const width = MARGIN_LEFT + Math.max(1, n) * colW + MARGIN_RIGHT
    this.#x = new Map(s.nodes.map((node, i) => [node.id, MARGIN_LEFT + colW * (i + 0.5)]))

    // rows, top level first; rows shrink when there are many
    const groups = levelGroups(s)
    const rowCount = groups.reduce((sum, g) => sum + s.lists.filter((l) => l.level === g.from).length, 0)
    const ROW_H = Math.max(MIN_ROW_H, Math.min(MAX_ROW_H, Math.floor(620 / Math.max(1, rowCount))))
    const colors = tabColors(s)
    const rows: RowInfo[] = []
    let y = MARGIN_TOP
    for (const g of [...groups].reverse()) {
      const lists = s.lists.filter((l) => l.level === g.from)
      if (lists.length === 0) continue
      for (const list of lists) {
        const top = s.lists.find((l) => l.level === g.to && l.members[0] === list.members[0])
        rows.push({
          level: g.from,
          levelTo: g.to,
          prefix: top?.prefix ?? list.prefix,
          y: y + ROW_H / 2,
          members: new Set(list.members),
        })
        y += ROW_H
      }
      y += BAND_GAP
    }
    this.#rows = rows
    const level0Y = rows.find((r) => r.level === 0)?.y ?? MARGIN_TOP + ROW_H / 2
    const height = level0Y + LABEL_SPACE + (this.showConnections ? CONN_SPACE : 0) + 10
    svg.setAttribute('viewBox', `0 0 ${width} ${height}`)
    svg.setAttribute('width', String(width))
    svg.setAttribute('height', String(height))
    // fill the panel, but never blow a small graph up by more than a third
    svg.style.width = `min(100%, ${Math.round(width * 1.35)}px)`
    svg.dataset.nodes = String(n)

    if (n === 0) {
      const t = el('text', { x: 20, y: 40, class: 'empty' }, svg)
      t.textContent = 'No node has joined yet.'
      return
    }

    // level bands
    const bands = el('g', { class: 'bands' }, svg)
    for (const g of [...groups].reverse()) {
      const level = g.from
      const levelRows = rows.filter((r) => r.level === level)
      if (levelRows.length === 0) continue
      const top = levelRows[0]!.y - ROW_H / 2
      const bottom = levelRows[levelRows.length - 1]!.y + ROW_H / 2
      el(
        'rect',
        {
          x: 4,
          y: top - 4,
          width: width - 8,
          height: bottom - top + 8,
          rx: 8,
          class: `band band-${level % 2}`,
        },
        bands,
      )
      const label = el('text', { x: 14, y: (top + bottom) / 2 + 4, class: 'level-label' }, bands)
      label.textContent = g.to > g.from ? `levels ${g.from}–${g.to}` : `level ${level}`
      for (const r of levelRows) {
        if (level === 0) continue
        const p = el(
          'text',
          { x: width - 12, y: r.y + 4, class: 'prefix-label', 'text-anchor': 'end' },
          bands,
        )
        p.textContent = `mv ${r.prefix.length > 12 ? `${r.prefix.slice(0, 12)}…(${r.prefix.length})` : `${r.prefix}…`}`
      }
    }

    // towers: a node's column through every row it is in
    const towers = el('g', { class: 'towers' }, svg)
    for (const node of s.nodes) {
      const ys = rows.filter((r) => r.members.has(node.id)).map((r) => r.y)
      if (ys.length < 2) continue
      const x = this.#x.get(node.id)!
      el('line', { x1: x, x2: x, y1: Math.min(...ys), y2: Math.max(...ys), class: 'tower' }, towers)
    }

    // WebRTC connections of this tab's nodes, as arcs under level 0
    if (this.showConnections) {
      const conns = el('g', { class: 'connections' }, svg)
      const base = level0Y + LABEL_SPACE - 6
      for (const c of s.connections) {
        const x1 = this.#x.get(c.from)
        const x2 = this.#x.get(c.to)
        if (x1 === undefined || x2 === undefined) continue
        const depth = Math.min(CONN_SPACE - 8, 12 + Math.abs(x2 - x1) * 0.18)
        el(
          'path',
          {
            d: `M ${x1} ${base} C ${x1} ${base + depth}, ${x2} ${base + depth}, ${x2} ${base}`,
            class: 'conn',
            'data-from': c.from,
            'data-to': c.to,
          },
          conns,
        )
      }
    }

    // list links (right-neighbour pointers of the real lookup tables)
    const edges = el('g', { class: 'edges' }, svg)
    for (const e of s.edges) {
      const row = this.#rowOf(e.from, e.level)
      const x1 = this.#x.get(e.from)
      const x2 = this.#x.get(e.to)
      if (row === undefined || x1 === undefined || x2 === undefined || row.level !== e.level) continue
      const line = el(
        'line',
        { x1: x1 + R, x2: x2 - R, y1: row.y, y2: row.y, class: 'edge', 'marker-end': 'url(#arrow)' },
        edges,
      )
      line.dataset.level = String(e.level)
      line.dataset.levelTo = String(row.levelTo)
      line.dataset.from = e.from
      line.dataset.to = e.to
    }
    for (const e of s.deadEdges) {
      const row = this.#rowOf(e.from, e.level)
      const x1 = this.#x.get(e.from)
      if (row === undefined || x1 === undefined || row.level !== e.level) continue
      const dir = e.to > e.from ? 1 : -1
      const stub = el(
        'line',
        { x1: x1 + dir * R, x2: x1 + dir * (R + 16), y1: row.y, y2: row.y, class: 'dead-edge' },
        edges,
      )
      stub.dataset.level = String(e.level)
      stub.dataset.levelTo = String(row.levelTo)
      stub.dataset.from = e.from
      stub.dataset.to = e.to
      const x = el(
        'text',
        { x: x1 + dir * (R + 20), y: row.y + 4, class: 'dead-mark', 'text-anchor': 'middle' },
        edges,
      )
      x.textContent = '✕'
    }
    const defs = el('defs', {}, svg)
    const marker = el(
      'marker',
      {
        id: 'arrow',
        viewBox: '0 0 10 10',
        refX: 9,
        refY: 5,
        markerWidth: 5,
        markerHeight: 5,
        orient: 'auto-start-reverse',
      },
      defs,
    )
    el('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrow-head' }, marker)

    // nodes
    const nodes = el('g', { class: 'nodes' }, svg)
    for (const node of s.nodes) {
      const x = this.#x.get(node.id)!
      for (const r of rows) {
        if (!r.members.has(node.id)) continue
        const classes = ['node']
        if (node.local) classes.push('local')
        if (node.id === this.#selection.from) classes.push('selected-from')
        if (node.id === this.#selection.target) classes.push('selected-target')
        const g = el('g', { class: classes.join(' '), transform: `translate(${x} ${r.y})` }, nodes)
        g.dataset.id = node.id
        g.dataset.level = String(r.level)
        g.dataset.levelTo = String(r.levelTo)
        el('circle', { r: R, fill: colors.get(node.tab) ?? LOCAL_COLOR }, g)
        if (node.local) el('circle', { r: R + 3.5, class: 'local-ring' }, g)
        const title = el('title', {}, g)
        title.textContent = `${node.id}\nmv ${node.mv.slice(0, 16)}…\ntab ${node.tab}${node.local ? ' (this tab)' : ''}`
        g.addEventListener('click', () => this.#onNodeClick(node.id))
      }
      const label = el(
        'text',
        { x, y: level0Y + R + 15, class: `id-label${node.local ? ' local' : ''}`, 'text-anchor': 'middle' },
        nodes,
      )
      label.textContent = short(node.id)
    }

    // route overlay
    el('g', { class: 'route', id: 'route' }, svg)
    this.#drawRoute()
  }

  #rowOf(id: string, level: number): RowInfo | undefined {
    return this.#rows.find((r) => r.level <= level && level <= r.levelTo && r.members.has(id))
  }

  /** The row a hop is drawn at: its level's list, or the node's highest row below it. */
  #hopRow(id: string, level: number): RowInfo | undefined {
    for (let l = level; l >= 0; l--) {
      const r = this.#rowOf(id, l)
      if (r !== undefined) return r
    }
    return undefined
  }

  /** Animates `trace` hop by hop (replaces the route shown). */
  showRoute(trace: SearchTrace | undefined, animate = true): void {
    if (this.#routeTimer !== undefined) clearTimeout(this.#routeTimer)
    this.#route = trace
    this.#routeShown = trace === undefined ? 0 : animate ? 0 : trace.hops.length
    this.#drawRoute()
    if (trace === undefined || !animate || trace.hops.length === 0) return
    const step = (): void => {
      this.#routeShown++
      this.#drawRoute()
      if (this.#routeShown < trace.hops.length) this.#routeTimer = setTimeout(step, HOP_STEP_MS)
    }
    this.#routeTimer = setTimeout(step, 60)
  }

  #drawRoute(): void {
    const g = this.svg.querySelector('#route')
    if (g === null) return
    g.replaceChildren()
    const trace = this.#route
    if (trace === undefined) return
    const shown = Math.min(this.#routeShown, trace.hops.length)
    g.setAttribute('data-seq', String(trace.seq))
    g.setAttribute('data-state', shown >= trace.hops.length ? 'done' : 'animating')
    const at = (id: string, level: number): { x: number; y: number } | undefined => {
      const x = this.#x.get(id)
      const row = this.#hopRow(id, level)
      return x === undefined || row === undefined ? undefined : { x, y: row.y }
    }
    // the start, then one point per hop shown so far
    const points = [
      at(trace.from, trace.startLevel),
      ...trace.hops.slice(0, shown).map((h) => at(h.node, h.level)),
    ]
    for (let i = 1; i < points.length; i++) {
      const a = points[i - 1]
      const b = points[i]
      if (a === undefined || b === undefined) continue
      const hop = trace.hops[i - 1]!
      const bend = a.y === b.y ? -18 : 0
      el(
        'path',
        {
          d: `M ${a.x} ${a.y} Q ${(a.x + b.x) / 2} ${(a.y + b.y) / 2 + bend} ${b.x} ${b.y}`,
          class: `route-seg${hop.detour ? ' detour' : ''}`,
        },
        g,
      )
    }
    const start = points[0]
    if (start !== undefined) {
      const sg = el('g', { class: 'hop-start', transform: `translate(${start.x} ${start.y})` }, g)
      sg.dataset.id = trace.from
      el('circle', { r: R + 5 }, sg)
      const t = el('text', { y: -R - 8, 'text-anchor': 'middle' }, sg)
      t.textContent = `start L${trace.startLevel}`
    }
    for (let i = 0; i < shown; i++) {
      const p = points[i + 1]
      const hop = trace.hops[i]!
      const last = i === trace.hops.length - 1
      const cls = ['hop']
      if (i === shown - 1 && !last) cls.push('current')
      if (last) cls.push(trace.found ? 'result found' : 'result closest')
      if (hop.detour) cls.push('detour')
      const hg = el('g', { class: cls.join(' ') }, g)
      hg.dataset.hopIndex = String(i)
      hg.dataset.id = hop.node
      hg.dataset.level = String(hop.level)
      if (p === undefined) continue
      hg.setAttribute('transform', `translate(${p.x} ${p.y})`)
      el('circle', { r: R + 5 }, hg)
      const t = el('text', { y: -R - 8, 'text-anchor': 'middle' }, hg)
      t.textContent = `${hop.detour ? '↯' : ''}#${i + 1} L${hop.level}`
    }
  }
}

/**
 * The SVG picture: the skip graph as levels (level 0 at the bottom, every node ordered by identifier; level
 * i split into one row per list of nodes sharing an i-bit membership-vector prefix, or folded into one row of
 * arcs), this tab's nodes ringed, live connections as arcs under level 0, and a search's route (`route.ts`).
 * The layout is `layout.ts`; zoom and pan `zoom.ts`. Clicking a band's label folds or unfolds it.
 *
 * Every drawn element carries data attributes (`data-id`, `data-level`, `data-level-to`, `data-from`,
 * `data-to`, `data-hop-index`) so that tests can read the picture back.
 *
 * @module
 */
import { type GraphSnapshot, short } from './graph.js'
import { type Layout, layout, rowOf } from './layout.js'
import { RouteLayer } from './route.js'
import { el } from './svg.js'
import type { SearchTrace } from './trace.js'
import { PanZoom } from './zoom.js'

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

/**
 * Connections drawn as arcs at most: past this (a tab of many nodes on a shared host opens thousands of virtual
 * links) the arcs say nothing and cost the page most of its time to lay out and paint, so none are drawn.
 */
export const MAX_DRAWN_CONNECTIONS = 400

/**
 * What a picture shows, as a string: two snapshots with the same signature draw the same picture. The connections
 * count only when they are drawn (`arcs`): past {@link MAX_DRAWN_CONNECTIONS} only whether there are too many does.
 * (In a settled graph of 4 × 64 nodes the virtual links still open and close every second; with them in the
 * signature the picture was laid out again every second for nothing.)
 */
function signature(s: GraphSnapshot, arcs: boolean): string {
  return JSON.stringify([
    s.nodes.map((n) => `${n.id}${n.local ? '*' : ''}${n.tab}${n.height}`),
    s.edges.map((e) => `${e.level}${e.from}${e.to}`),
    s.deadEdges.map((e) => `${e.level}${e.from}${e.to}`),
    arcs ? s.connections.map((c) => `${c.from}${c.to}`) : s.connections.length > MAX_DRAWN_CONNECTIONS,
  ])
}

/** A stable hue per membership-vector prefix, so a folded row's lists can be told apart. */
function listHue(prefix: string): number {
  let h = 0
  for (const ch of prefix) h = (h * 31 + (ch === '1' ? 7 : 3)) % 360
  return (h * 47) % 360
}

/** Draws snapshots and routes into one `<svg>`. */
export class GraphView {
  readonly svg: SVGSVGElement
  readonly zoom: PanZoom
  readonly #route: RouteLayer
  readonly #onNodeClick: (id: string) => void
  /** The user's fold choices, by the first level of a band. */
  readonly #folds = new Map<number, boolean>()
  #snapshot: GraphSnapshot | undefined
  /** The signature of the picture drawn last (a snapshot that would draw the same is not drawn again). */
  #drawn = ''
  #pending: ReturnType<typeof setTimeout> | undefined
  /** When the last draw ended and how long it took (a big picture is redrawn less often). */
  #lastDraw = { at: Number.NEGATIVE_INFINITY, ms: 0 }
  #selection = { from: null as string | null, target: null as string | null }
  showConnections = true
  /** The window follows the route's current hop while it is drawn. */
  followRoute = true

  constructor(svg: SVGSVGElement, onNodeClick: (id: string) => void) {
    this.svg = svg
    this.#onNodeClick = onNodeClick
    this.zoom = new PanZoom(svg)
    svg.addEventListener('click', (e) => {
      const id = (e.target as Element).closest<SVGGElement>('g.node')?.dataset.id
      if (id !== undefined) this.#onNodeClick(id)
    })
    this.#route = new RouteLayer(svg, (x, y) => {
      if (this.followRoute) this.zoom.follow(x, y)
    })
  }

  /** Marks the chosen start and target nodes. */
  select(from: string | null, target: string | null): void {
    this.#selection = { from, target }
    if (this.#snapshot !== undefined) this.draw(this.#snapshot)
  }

  /** Folds (or unfolds) the band starting at `level`; `undefined` returns it to the default. */
  setFolded(level: number, folded: boolean | undefined): void {
    if (folded === undefined) this.#folds.delete(level)
    else this.#folds.set(level, folded)
    if (this.#snapshot !== undefined) this.draw(this.#snapshot)
  }

  /** Animates `trace` hop by hop (replaces the route shown). */
  showRoute(trace: SearchTrace | undefined, animate = true): void {
    this.#route.show(trace, animate)
  }

  /**
   * Draws `s` soon: at most one redraw a second (or per ten times the last one took, layout included), so that a large
   * picture, which the browser takes long to lay out and paint, does not starve the page's nodes; not at all
   * when it would draw the same picture as now.
   */
  drawSoon(s: GraphSnapshot): void {
    this.#snapshot = s
    if (this.#pending !== undefined) return
    if (this.#signature(s) === this.#drawn) return
    const gap = Math.max(1000, 10 * this.#lastDraw.ms)
    const wait = Math.max(0, this.#lastDraw.at + gap - performance.now())
    this.#pending = setTimeout(() => {
      this.#pending = undefined
      if (this.#snapshot !== undefined && this.#signature(this.#snapshot) !== this.#drawn)
        this.draw(this.#snapshot)
    }, wait)
  }

  /** Whether `s`'s connections are drawn as arcs. */
  #arcs(s: GraphSnapshot): boolean {
    return this.showConnections && s.connections.length <= MAX_DRAWN_CONNECTIONS
  }

  #signature(s: GraphSnapshot): string {
    return signature(s, this.#arcs(s))
  }

  /** Redraws the whole picture now (the route currently shown and the zoom are kept). */
  draw(s: GraphSnapshot): void {
    const t0 = performance.now()
    if (this.#pending !== undefined) clearTimeout(this.#pending)
    this.#pending = undefined
    this.#snapshot = s
    const arcs = this.#arcs(s)
    this.#drawn = signature(s, arcs)
    const svg = this.svg
    svg.replaceChildren()
    svg.dataset.connections = this.showConnections && !arcs ? 'too-many' : String(arcs)
    const l = layout(s, (level) => this.#folds.get(level), arcs)
    svg.dataset.nodes = String(s.nodes.length)
    svg.setAttribute('preserveAspectRatio', 'xMidYMin meet')
    this.zoom.setContent(l.width, l.height)
    if (s.nodes.length === 0) {
      const t = el('text', { x: 20, y: 40, class: 'empty' }, svg)
      t.textContent = 'No node has joined yet.'
      this.#route.redraw(undefined)
      return
    }
    this.#drawBands(l)
    this.#drawTowers(s, l)
    if (arcs) this.#drawConnections(s, l)
    this.#drawEdges(s, l)
    this.#drawNodes(s, l)
    el('g', { class: 'route', id: 'route' }, svg)
    this.#route.redraw(l)
    // the browser lays the picture out now rather than after this task, so that its cost counts in the gap
    svg.getBoundingClientRect()
    this.#lastDraw = { at: performance.now(), ms: performance.now() - t0 }
  }

  #drawBands(l: Layout): void {
    const bands = el('g', { class: 'bands' }, this.svg)
    for (const b of l.bands) {
      el(
        'rect',
        {
          x: 4,
          y: b.top - 4,
          width: l.width - 8,
          height: b.bottom - b.top + 8,
          rx: 8,
          class: `band band-${b.from % 2}${b.folded ? ' folded' : ''}`,
        },
        bands,
      )
      const toggle = el(
        'g',
        { class: 'band-toggle', 'data-level': b.from, 'data-folded': String(b.folded) },
        bands,
      )
      const label = el('text', { x: 12, y: (b.top + b.bottom) / 2 + 4, class: 'level-label' }, toggle)
      const levels = b.to > b.from ? `levels ${b.from}–${b.to}` : `level ${b.from}`
      label.textContent = b.from === 0 ? levels : `${b.folded ? '▸' : '▾'} ${levels}`
      if (b.folded) {
        const sub = el('text', { x: 12, y: (b.top + b.bottom) / 2 + 17, class: 'level-sub' }, toggle)
        sub.textContent = `${b.lists} lists`
      }
      if (b.from > 0) {
        const title = el('title', {}, toggle)
        title.textContent = b.folded ? 'unfold: one row per list' : 'fold: all lists in one row'
        toggle.addEventListener('click', () => this.setFolded(b.from, !b.folded))
      }
    }
    for (const r of l.rows) {
      if (r.level === 0 || r.folded) continue
      const p = el(
        'text',
        { x: l.width - 12, y: r.y + 4, class: 'prefix-label', 'text-anchor': 'end' },
        bands,
      )
      p.textContent = `mv ${r.prefix.length > 12 ? `${r.prefix.slice(0, 12)}…(${r.prefix.length})` : `${r.prefix}…`}`
    }
  }

  /** A node's column through every row it is in. */
  #drawTowers(s: GraphSnapshot, l: Layout): void {
    const towers = el('g', { class: 'towers' }, this.svg)
    for (const node of s.nodes) {
      const ys = l.rows.filter((r) => r.members.has(node.id)).map((r) => r.y)
      if (ys.length < 2) continue
      const x = l.x.get(node.id)!
      el('line', { x1: x, x2: x, y1: Math.min(...ys), y2: Math.max(...ys), class: 'tower' }, towers)
    }
  }

  /** Connections of this tab's nodes, as arcs under level 0. */
  #drawConnections(s: GraphSnapshot, l: Layout): void {
    const conns = el('g', { class: 'connections' }, this.svg)
    for (const c of s.connections) {
      const x1 = l.x.get(c.from)
      const x2 = l.x.get(c.to)
      if (x1 === undefined || x2 === undefined) continue
      const depth = Math.min(62, 12 + Math.abs(x2 - x1) * 0.18)
      const base = l.connY
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

  /** List links (right-neighbour pointers of the real lookup tables); in a folded row, arcs above it. */
  #drawEdges(s: GraphSnapshot, l: Layout): void {
    const edges = el('g', { class: 'edges' }, this.svg)
    const r = l.r
    const prefixOf = new Map<string, string>()
    for (const list of s.lists) for (const m of list.members) prefixOf.set(`${list.level}:${m}`, list.prefix)
    const tag = (e: SVGElement, level: number, levelTo: number, from: string, to: string): void => {
      e.dataset.level = String(level)
      e.dataset.levelTo = String(levelTo)
      e.dataset.from = from
      e.dataset.to = to
    }
    for (const e of s.edges) {
      const row = rowOf(l, e.from, e.level)
      const x1 = l.x.get(e.from)
      const x2 = l.x.get(e.to)
      if (row === undefined || x1 === undefined || x2 === undefined || row.level !== e.level) continue
      if (row.folded) {
        const h = Math.min(32, 6 + Math.abs(x2 - x1) * 0.12)
        const hue = listHue(prefixOf.get(`${e.level}:${e.from}`) ?? '')
        const d = `M ${x1} ${row.y - r * 0.6} C ${x1} ${row.y - h}, ${x2} ${row.y - h}, ${x2} ${row.y - r * 0.6}`
        const arc = el('path', { d, class: 'edge folded', style: `stroke: hsl(${hue} 65% 68%)` }, edges)
        tag(arc, e.level, row.levelTo, e.from, e.to)
        continue
      }
      const line = el(
        'line',
        { x1: x1 + r, x2: x2 - r, y1: row.y, y2: row.y, class: 'edge', 'marker-end': 'url(#arrow)' },
        edges,
      )
      tag(line, e.level, row.levelTo, e.from, e.to)
    }
    for (const e of s.deadEdges) {
      const row = rowOf(l, e.from, e.level)
      const x1 = l.x.get(e.from)
      if (row === undefined || x1 === undefined || row.level !== e.level) continue
      const dir = e.to > e.from ? 1 : -1
      const stub = el(
        'line',
        { x1: x1 + dir * r, x2: x1 + dir * (r + 16), y1: row.y, y2: row.y, class: 'dead-edge' },
        edges,
      )
      tag(stub, e.level, row.levelTo, e.from, e.to)
      const x = el(
        'text',
        { x: x1 + dir * (r + 20), y: row.y + 4, class: 'dead-mark', 'text-anchor': 'middle' },
        edges,
      )
      x.textContent = '✕'
    }
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
      el('defs', {}, this.svg),
    )
    el('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrow-head' }, marker)
  }

  #drawNodes(s: GraphSnapshot, l: Layout): void {
    const colors = tabColors(s)
    const nodes = el('g', { class: 'nodes' }, this.svg)
    for (const node of s.nodes) {
      const x = l.x.get(node.id)!
      for (const r of l.rows) {
        if (!r.members.has(node.id)) continue
        const classes = ['node']
        if (node.local) classes.push('local')
        if (r.folded) classes.push('folded')
        if (node.id === this.#selection.from) classes.push('selected-from')
        if (node.id === this.#selection.target) classes.push('selected-target')
        const g = el('g', { class: classes.join(' '), transform: `translate(${x} ${r.y})` }, nodes)
        g.dataset.id = node.id
        g.dataset.level = String(r.level)
        g.dataset.levelTo = String(r.levelTo)
        const radius = r.folded ? l.r * 0.6 : l.r
        el('circle', { r: radius, fill: colors.get(node.tab) ?? LOCAL_COLOR }, g)
        if (node.local) el('circle', { r: radius + 3, class: 'local-ring' }, g)
        if (r.level === 0) {
          const title = el('title', {}, g)
          title.textContent = `${node.id}\nmv ${node.mv.slice(0, 16)}…\ntab ${node.tab}${node.local ? ' (this tab)' : ''}`
        }
      }
      const label = el(
        'text',
        {
          x,
          y: l.labelY,
          class: `id-label${node.local ? ' local' : ''}`,
          'text-anchor': l.turnLabels ? 'start' : 'middle',
        },
        nodes,
      )
      if (l.turnLabels) label.setAttribute('transform', `rotate(60 ${x} ${l.labelY})`)
      label.textContent = short(node.id)
    }
  }
}

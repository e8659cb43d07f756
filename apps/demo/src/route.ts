/**
 * A search's route over the picture: drawn hop by hop (`#route[data-seq][data-state]`, one
 * `g.hop[data-hop-index][data-id][data-level]` per hop shown), the nodes it visits highlighted and the rest
 * dimmed, and the window following the current hop.
 *
 * @module
 */
import { type Layout, hopRow } from './layout.js'
import { el } from './svg.js'
import type { SearchTrace } from './trace.js'

const HOP_STEP_MS = 420

/** Draws one route at a time into the picture's `#route` group. */
export class RouteLayer {
  readonly #svg: SVGSVGElement
  /** Brings a point of the content into view (the picture's zoom). */
  readonly #follow: (x: number, y: number) => void
  #route: SearchTrace | undefined
  #shown = 0
  #timer: ReturnType<typeof setTimeout> | undefined
  #layout: Layout | undefined

  constructor(svg: SVGSVGElement, follow: (x: number, y: number) => void) {
    this.#svg = svg
    this.#follow = follow
  }

  /** The ids on the route shown (start and hops so far). */
  onRoute(): Set<string> {
    const t = this.#route
    if (t === undefined) return new Set()
    return new Set([t.from, ...t.hops.slice(0, this.#shown).map((h) => h.node)])
  }

  /** Animates `trace` hop by hop (replaces the route shown); `animate: false` draws it whole at once. */
  show(trace: SearchTrace | undefined, animate: boolean): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#route = trace
    this.#shown = trace === undefined ? 0 : animate ? 0 : trace.hops.length
    this.redraw(this.#layout)
    this.#followCurrent()
    if (trace === undefined || !animate || trace.hops.length === 0) return
    const step = (): void => {
      this.#shown++
      this.redraw(this.#layout)
      this.#followCurrent()
      if (this.#shown < trace.hops.length) this.#timer = setTimeout(step, HOP_STEP_MS)
    }
    this.#timer = setTimeout(step, 60)
  }

  #followCurrent(): void {
    const t = this.#route
    const l = this.#layout
    if (t === undefined || l === undefined) return
    const hop = this.#shown === 0 ? { node: t.from, level: t.startLevel } : t.hops[this.#shown - 1]!
    const p = at(l, hop.node, hop.level)
    if (p !== undefined) this.#follow(p.x, p.y)
  }

  /** Draws the route again on `layout` (after a redraw of the picture). */
  redraw(layout: Layout | undefined): void {
    this.#layout = layout
    const g = this.#svg.querySelector('#route')
    if (g === null || layout === undefined) return
    g.replaceChildren()
    const trace = this.#route
    const on = this.onRoute()
    this.#svg.classList.toggle('routing', trace !== undefined)
    for (const node of this.#svg.querySelectorAll<SVGGElement>('g.node')) {
      node.classList.toggle('on-route', on.has(node.dataset.id ?? ''))
    }
    if (trace === undefined) return
    const shown = Math.min(this.#shown, trace.hops.length)
    g.setAttribute('data-seq', String(trace.seq))
    g.setAttribute('data-state', shown >= trace.hops.length ? 'done' : 'animating')
    const r = layout.r
    // the start, then one point per hop shown so far
    const points = [
      at(layout, trace.from, trace.startLevel),
      ...trace.hops.slice(0, shown).map((h) => at(layout, h.node, h.level)),
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
      el('circle', { r: r + 5 }, sg)
      const t = el('text', { y: -r - 8, 'text-anchor': 'middle' }, sg)
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
      el('circle', { r: r + 5 }, hg)
      const t = el('text', { y: -r - 8, 'text-anchor': 'middle' }, hg)
      t.textContent = `${hop.detour ? '↯' : ''}#${i + 1} L${hop.level}`
    }
  }
}

function at(l: Layout, id: string, level: number): { x: number; y: number } | undefined {
  const x = l.x.get(id)
  const row = hopRow(l, id, level)
  return x === undefined || row === undefined ? undefined : { x, y: row.y }
}

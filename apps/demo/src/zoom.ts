/**
 * Zoom and pan of the picture: the `<svg>`'s viewBox is a window onto the drawn content. The wheel zooms
 * around the pointer, dragging pans, a double click (or {@link PanZoom.fit}) shows everything again, and
 * {@link PanZoom.follow} brings a point into view at a readable scale (the route's current hop).
 *
 * @module
 */

interface Box {
  x: number
  y: number
  w: number
  h: number
}

/** A drag shorter than this (px) is a click, left to the node under the pointer. */
const DRAG_THRESHOLD_PX = 4
const MIN_SCALE = 0.05
const MAX_SCALE = 4
const ANIMATION_MS = 220

/** Keeps an `<svg>`'s viewBox; redraws never reset what the user chose. */
export class PanZoom {
  readonly #svg: SVGSVGElement
  #content: Box = { x: 0, y: 0, w: 1, h: 1 }
  #view: Box = { x: 0, y: 0, w: 1, h: 1 }
  /** Showing everything: new content is fitted again. */
  #fitted = true
  #animation = 0
  #dragEndedAt = Number.NEGATIVE_INFINITY

  constructor(svg: SVGSVGElement) {
    this.#svg = svg
    // a drag is not a click on the node where it started
    svg.addEventListener(
      'click',
      (c) => {
        if (performance.now() - this.#dragEndedAt < 250) c.stopPropagation()
      },
      { capture: true },
    )
    svg.addEventListener('wheel', (e) => this.#onWheel(e), { passive: false })
    svg.addEventListener('dblclick', () => this.fit())
    svg.addEventListener('pointerdown', (e) => this.#onPointerDown(e))
  }

  /** How many screen pixels one unit of content takes now. */
  scale(): number {
    const rect = this.#svg.getBoundingClientRect()
    return rect.width === 0 ? 1 : Math.min(rect.width / this.#view.w, rect.height / this.#view.h)
  }

  /** Whether everything is shown. */
  get fitted(): boolean {
    return this.#fitted
  }

  /** The drawn content changed size: refit if everything was shown, else keep the window inside it. */
  setContent(w: number, h: number): void {
    this.#content = { x: 0, y: 0, w, h }
    if (this.#fitted) this.fit()
    else this.#apply(this.#clamp(this.#view))
  }

  /** Shows everything. */
  fit(): void {
    this.#fitted = true
    this.#apply({ ...this.#content })
  }

  /** Zooms by `factor` (> 1: closer) around a point of the content (default: the window's centre). */
  zoomBy(factor: number, at?: { x: number; y: number }): void {
    const v = this.#view
    const cx = at?.x ?? v.x + v.w / 2
    const cy = at?.y ?? v.y + v.h / 2
    const fit = this.#fitScale()
    const current = fit * (this.#content.w / v.w)
    const next = Math.min(MAX_SCALE, Math.max(Math.min(MIN_SCALE, fit), current * factor))
    const f = current / next
    const w = v.w * f
    const h = v.h * f
    if (w >= this.#content.w && h >= this.#content.h) {
      this.fit()
      return
    }
    this.#fitted = false
    this.#apply(this.#clamp({ x: cx - (cx - v.x) * f, y: cy - (cy - v.y) * f, w, h }))
  }

  /**
   * Brings the content point (x, y) into view: when the picture is shown smaller than `minScale`, zooms to
   * `minScale` around it; when the point is near the window's edge, pans to centre it. Animated.
   */
  follow(x: number, y: number, minScale = 0.9): void {
    const rect = this.#svg.getBoundingClientRect()
    if (rect.width === 0) return
    let v = { ...this.#view }
    if (this.scale() < minScale) {
      const w = Math.min(this.#content.w, rect.width / minScale)
      const h = Math.min(this.#content.h, rect.height / minScale)
      v = { x: x - w / 2, y: y - h / 2, w, h }
    } else {
      const inside = (p: number, lo: number, len: number): boolean =>
        p > lo + len * 0.15 && p < lo + len * 0.85
      if (inside(x, v.x, v.w) && inside(y, v.y, v.h)) return
      v = { ...v, x: x - v.w / 2, y: y - v.h / 2 }
    }
    this.#fitted = false
    this.#animateTo(this.#clamp(v))
  }

  #fitScale(): number {
    const rect = this.#svg.getBoundingClientRect()
    if (rect.width === 0) return 1
    return Math.min(rect.width / this.#content.w, rect.height / this.#content.h)
  }

  #clamp(v: Box): Box {
    const c = this.#content
    const w = Math.min(v.w, c.w)
    const h = Math.min(v.h, c.h)
    const x = v.w >= c.w ? c.x - (v.w - c.w) / 2 : Math.min(Math.max(v.x, c.x), c.x + c.w - w)
    const y = v.h >= c.h ? c.y - (v.h - c.h) / 2 : Math.min(Math.max(v.y, c.y), c.y + c.h - h)
    return { x, y, w: Math.max(w, v.w), h: Math.max(h, v.h) }
  }

  #apply(v: Box): void {
    cancelAnimationFrame(this.#animation)
    this.#view = v
    this.#svg.setAttribute('viewBox', `${v.x} ${v.y} ${v.w} ${v.h}`)
    this.#svg.dataset.zoom = this.#fitted ? 'fit' : this.scale().toFixed(2)
  }

  #animateTo(target: Box): void {
    cancelAnimationFrame(this.#animation)
    const from = { ...this.#view }
    const t0 = performance.now()
    const step = (now: number): void => {
      const k = Math.min(1, (now - t0) / ANIMATION_MS)
      const e = k * (2 - k)
      const mix = (a: number, b: number): number => a + (b - a) * e
      this.#view = {
        x: mix(from.x, target.x),
        y: mix(from.y, target.y),
        w: mix(from.w, target.w),
        h: mix(from.h, target.h),
      }
      this.#svg.setAttribute('viewBox', `${this.#view.x} ${this.#view.y} ${this.#view.w} ${this.#view.h}`)
      if (k < 1) this.#animation = requestAnimationFrame(step)
      else this.#apply(target)
    }
    this.#animation = requestAnimationFrame(step)
  }

  /** Client coordinates to content coordinates. */
  #toContent(clientX: number, clientY: number): { x: number; y: number } {
    const ctm = this.#svg.getScreenCTM()
    if (ctm === null) return { x: this.#view.x, y: this.#view.y }
    const p = new DOMPoint(clientX, clientY).matrixTransform(ctm.inverse())
    return { x: p.x, y: p.y }
  }

  #onWheel(e: WheelEvent): void {
    e.preventDefault()
    const delta = e.deltaMode === 1 ? e.deltaY * 16 : e.deltaY
    this.zoomBy(Math.exp(-delta * 0.0015), this.#toContent(e.clientX, e.clientY))
  }

  #onPointerDown(e: PointerEvent): void {
    if (e.button !== 0) return
    const start = { x: e.clientX, y: e.clientY, view: { ...this.#view } }
    let dragging = false
    const move = (m: PointerEvent): void => {
      const dx = m.clientX - start.x
      const dy = m.clientY - start.y
      if (!dragging && Math.hypot(dx, dy) < DRAG_THRESHOLD_PX) return
      if (!dragging) {
        dragging = true
        this.#svg.setPointerCapture(e.pointerId)
        this.#svg.classList.add('panning')
      }
      const s = this.scale()
      this.#fitted = false
      this.#apply(this.#clamp({ ...start.view, x: start.view.x - dx / s, y: start.view.y - dy / s }))
    }
    const up = (): void => {
      this.#svg.removeEventListener('pointermove', move)
      this.#svg.removeEventListener('pointerup', up)
      this.#svg.removeEventListener('pointercancel', up)
      this.#svg.classList.remove('panning')
      if (dragging) this.#dragEndedAt = performance.now()
    }
    this.#svg.addEventListener('pointermove', move)
    this.#svg.addEventListener('pointerup', up)
    this.#svg.addEventListener('pointercancel', up)
  }
}

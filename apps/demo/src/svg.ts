/**
 * The one SVG element factory of the picture.
 *
 * @module
 */

const SVG = 'http://www.w3.org/2000/svg'

/** Creates an SVG element with `attrs`, appended to `parent` when given. */
export function el<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number>,
  parent?: Element,
): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG, tag)
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v))
  parent?.appendChild(e)
  return e
}

/**
 * Where everything of the picture goes, computed from a snapshot (pure: no DOM). Columns are nodes in
 * identifier order; bands are levels, top level first, level 0 at the bottom. Consecutive levels with
 * identical lists and links share one band. A band is either unfolded (one row per list of the skip graph)
 * or folded (one row holding every list of its levels, the links drawn as arcs above it), so that a graph
 * of hundreds of nodes, whose higher levels hold dozens of lists each, stays a screenful.
 *
 * @module
 */
import type { GraphSnapshot } from './graph.js'

/** A band with more lists than this is folded unless the user unfolded it. */
export const FOLD_ABOVE_LISTS = 6

/** One row of the picture. */
export interface Row {
  /** The lowest level the row stands for. */
  level: number
  /** The highest (rows of consecutive levels with identical lists and links are drawn once). */
  levelTo: number
  /** The membership-vector prefix of the row's list (a folded row: its band's lists' common prefix, often ''). */
  prefix: string
  y: number
  members: Set<string>
  /** Part of a folded band: holds every list of its levels. */
  folded: boolean
}

/** A run of consecutive levels drawn as one band. */
export interface Band {
  from: number
  to: number
  /** Lists at `from` with at least two members. */
  lists: number
  folded: boolean
  top: number
  bottom: number
}

/** The computed layout. */
export interface Layout {
  width: number
  height: number
  /** Column width and node radius (both shrink with many nodes). */
  colW: number
  r: number
  x: Map<string, number>
  rows: Row[]
  bands: Band[]
  /** The y of level 0's row. */
  level0Y: number
  /** Where the id labels go, and whether they are turned (narrow columns). */
  labelY: number
  turnLabels: boolean
  /** The baseline of the connection arcs (under the labels), when shown. */
  connY: number
}

export const MARGIN_LEFT = 92
const MARGIN_RIGHT = 110
const MARGIN_TOP = 26
const BAND_GAP = 14
const ROW_H = 30
const FOLDED_ROW_H = 46
const CONN_SPACE = 70

/** Groups consecutive levels (level 0 always alone) whose multi-node lists and links are identical. */
export function levelGroups(s: GraphSnapshot): Array<{ from: number; to: number }> {
  const signature = (level: number): string =>
    JSON.stringify([
      s.lists.filter((l) => l.level === level).map((l) => l.members),
      s.edges.filter((e) => e.level === level).map((e) => [e.from, e.to]),
      s.deadEdges.filter((e) => e.level === level).map((e) => [e.from, e.to]),
    ])
  const groups = [{ from: 0, to: 0 }]
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

/**
 * Lays out `s`. `foldChoice(level)` is the user's choice for the band starting at `level` (`undefined`: the
 * default, folded when it has more than {@link FOLD_ABOVE_LISTS} lists). Level 0 is never folded.
 */
export function layout(
  s: GraphSnapshot,
  foldChoice: (level: number) => boolean | undefined,
  showConnections: boolean,
): Layout {
  const n = Math.max(1, s.nodes.length)
  const colW = Math.max(16, Math.min(64, 1100 / n))
  const r = Math.max(4.5, Math.min(10, colW * 0.3))
  const x = new Map(s.nodes.map((node, i) => [node.id, MARGIN_LEFT + colW * (i + 0.5)]))
  const width = MARGIN_LEFT + n * colW + MARGIN_RIGHT
  const rows: Row[] = []
  const bands: Band[] = []
  let y = MARGIN_TOP
  for (const g of [...levelGroups(s)].reverse()) {
    const lists = s.lists.filter((l) => l.level === g.from)
    if (lists.length === 0) continue
    const choice = g.from === 0 ? false : foldChoice(g.from)
    const folded = choice ?? lists.length > FOLD_ABOVE_LISTS
    const top = y
    if (folded) {
      const members = new Set(lists.flatMap((l) => l.members))
      rows.push({
        level: g.from,
        levelTo: g.to,
        prefix: commonPrefix(lists.map((l) => l.prefix)),
        y: y + FOLDED_ROW_H - 12,
        members,
        folded,
      })
      y += FOLDED_ROW_H
    } else {
      for (const list of lists) {
        const topList = s.lists.find((l) => l.level === g.to && l.members[0] === list.members[0])
        rows.push({
          level: g.from,
          levelTo: g.to,
          prefix: topList?.prefix ?? list.prefix,
          y: y + ROW_H / 2,
          members: new Set(list.members),
          folded,
        })
        y += ROW_H
      }
    }
    bands.push({ from: g.from, to: g.to, lists: lists.length, folded, top, bottom: y })
    y += BAND_GAP
  }
  const level0Y = rows.find((row) => row.level === 0)?.y ?? MARGIN_TOP + ROW_H / 2
  const turnLabels = colW < 30
  const labelY = level0Y + r + (turnLabels ? 6 : 15)
  const labelSpace = turnLabels ? 40 : 24
  const connY = labelY + labelSpace - 12
  const height = connY + (showConnections ? CONN_SPACE : 0) + 10
  return { width, height, colW, r, x, rows, bands, level0Y, labelY, turnLabels, connY }
}

function commonPrefix(prefixes: string[]): string {
  const [first = ''] = prefixes
  let len = first.length
  for (const p of prefixes) {
    let i = 0
    while (i < len && p[i] === first[i]) i++
    len = i
  }
  return first.slice(0, len)
}

/** The row that draws `id` at `level`, if any. */
export function rowOf(l: Layout, id: string, level: number): Row | undefined {
  return l.rows.find((r) => r.level <= level && level <= r.levelTo && r.members.has(id))
}

/** The row a hop is drawn at: its level's row, or the node's highest row below it. */
export function hopRow(l: Layout, id: string, level: number): Row | undefined {
  for (let lv = level; lv >= 0; lv--) {
    const r = rowOf(l, id, lv)
    if (r !== undefined) return r
  }
  return undefined
}

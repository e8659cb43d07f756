/**
 * The picture's data model: lookup tables as they travel on the `demo.graph` channel, and the graph a tab
 * draws from them. Pure functions only (no DOM, no network), so the e2e suite can reason about the same
 * shapes through `window.skipmesh.graph()`.
 *
 * @module
 */

const HEX64 = /^[0-9a-f]{64}$/

/** One level of a node's lookup table: its left and right neighbours (hex ids), `null` when none. */
export interface TableLevel {
  left: string | null
  right: string | null
  /** The node marked its left neighbour dead (its connection closed without a leave). */
  leftDead: boolean
  /** The node marked its right neighbour dead. */
  rightDead: boolean
}

/** A node's lookup table as it answers a `describe` request. */
export interface NodeTable {
  /** The node's identifier, 64 hex digits. */
  id: string
  /** Its membership vector, 64 hex digits. */
  mv: string
  /** Whether it finished joining the skip graph. */
  joined: boolean
  /** Level 0 first. */
  levels: TableLevel[]
  /** The tab hosting it (random per tab), for colouring. */
  tab: string
}

/** Validates an untrusted `describe` answer; `undefined` when anything is off. */
export function parseTable(value: unknown): NodeTable | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const v = value as Record<string, unknown>
  if (typeof v.id !== 'string' || !HEX64.test(v.id)) return undefined
  if (typeof v.mv !== 'string' || !HEX64.test(v.mv)) return undefined
  if (typeof v.joined !== 'boolean') return undefined
  if (typeof v.tab !== 'string' || v.tab.length > 64) return undefined
  if (!Array.isArray(v.levels) || v.levels.length > 256) return undefined
  const levels: TableLevel[] = []
  for (const raw of v.levels as unknown[]) {
    if (typeof raw !== 'object' || raw === null) return undefined
    const l = raw as Record<string, unknown>
    const left = l.left ?? null
    const right = l.right ?? null
    if (left !== null && (typeof left !== 'string' || !HEX64.test(left))) return undefined
    if (right !== null && (typeof right !== 'string' || !HEX64.test(right))) return undefined
    levels.push({ left, right, leftDead: l.leftDead === true, rightDead: l.rightDead === true })
  }
  return { id: v.id, mv: v.mv, joined: v.joined, levels, tab: v.tab }
}

/** The first `bits` bits of a hex membership vector, as a string of 0s and 1s. */
export function mvPrefix(mvHex: string, bits: number): string {
  let out = ''
  for (let i = 0; i < bits; i++) {
    const nibble = Number.parseInt(mvHex[i >> 2] ?? '0', 16)
    out += (nibble >> (3 - (i & 3))) & 1
  }
  return out
}

/** A node as the picture shows it. */
export interface GraphNode {
  id: string
  mv: string
  /** Hosted by this tab. */
  local: boolean
  tab: string
  /** Number of levels in its lookup table. */
  height: number
}

/** A link at one level: a node's right neighbour pointer (both ends present in the picture). */
export interface GraphEdge {
  level: number
  from: string
  to: string
}

/** A list of the skip graph: the nodes at `level` sharing the `level`-bit membership-vector prefix `prefix`. */
export interface GraphList {
  level: number
  prefix: string
  /** Ordered by identifier. */
  members: string[]
}

/** Everything the picture is drawn from; `window.skipmesh.graph()` returns it. */
export interface GraphSnapshot {
  /** Joined, live nodes, ordered by identifier. */
  nodes: GraphNode[]
  /** The lookup table of every node in `nodes`, as fetched. */
  tables: Record<string, NodeTable>
  /** Right-neighbour pointers between present nodes, level by level. */
  edges: GraphEdge[]
  /** Pointers to nodes that are gone (or marked dead by their holder): drawn as broken links. */
  deadEdges: GraphEdge[]
  /** Lists with at least two members (level 0 always, even with one node). */
  lists: GraphList[]
  /** The highest level drawn. */
  topLevel: number
  /** Nodes seen earlier that left or failed. */
  gone: string[]
  /** Live WebRTC connections of this tab's nodes (each pair once, `from` < `to`). */
  connections: Array<{ from: string; to: string }>
}

/** Builds the snapshot from fetched tables. Tables of nodes that are not joined are ignored. */
export function buildSnapshot(
  tables: Iterable<NodeTable>,
  localIds: ReadonlySet<string>,
  gone: Iterable<string>,
  connections: Iterable<{ from: string; to: string }>,
): GraphSnapshot {
  const goneSet = new Set(gone)
  const byId = new Map<string, NodeTable>()
  for (const t of tables) if (t.joined && !goneSet.has(t.id)) byId.set(t.id, t)
  const ids = [...byId.keys()].sort()
  const nodes: GraphNode[] = ids.map((id) => {
    const t = byId.get(id)!
    return { id, mv: t.mv, local: localIds.has(id), tab: t.tab, height: t.levels.length }
  })
  const edges: GraphEdge[] = []
  const deadEdges: GraphEdge[] = []
  for (const id of ids) {
    const t = byId.get(id)!
    t.levels.forEach((l, level) => {
      if (l.right !== null) {
        if (byId.has(l.right) && !l.rightDead) edges.push({ level, from: id, to: l.right })
        else deadEdges.push({ level, from: id, to: l.right })
      }
      if (l.left !== null && (!byId.has(l.left) || l.leftDead))
        deadEdges.push({ level, from: id, to: l.left })
    })
  }
  const lists: GraphList[] = []
  let topLevel = 0
  const maxHeight = Math.max(1, ...nodes.map((n) => n.height))
  for (let level = 0; level < maxHeight; level++) {
    const groups = new Map<string, string[]>()
    for (const n of nodes) {
      if (level > 0 && n.height <= level) continue
      const p = mvPrefix(n.mv, level)
      const g = groups.get(p)
      if (g === undefined) groups.set(p, [n.id])
      else g.push(n.id)
    }
    for (const [prefix, members] of [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (level === 0 || members.length >= 2) {
        lists.push({ level, prefix, members })
        topLevel = Math.max(topLevel, level)
      }
    }
  }
  const present = new Set(ids)
  const seen = new Set<string>()
  const conns: Array<{ from: string; to: string }> = []
  for (const c of connections) {
    const [from, to] = c.from < c.to ? [c.from, c.to] : [c.to, c.from]
    const key = `${from}:${to}`
    if (seen.has(key) || !present.has(from) || !present.has(to)) continue
    seen.add(key)
    conns.push({ from, to })
  }
  return {
    nodes,
    tables: Object.fromEntries(ids.map((id) => [id, byId.get(id)!])),
    edges,
    deadEdges,
    lists,
    topLevel,
    gone: [...goneSet].sort(),
    connections: conns,
  }
}

/** Short label of an identifier (first hex digits). */
export function short(id: string, digits = 4): string {
  return id.slice(0, digits)
}

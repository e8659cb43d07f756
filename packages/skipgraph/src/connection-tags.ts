/**
 * Keeps the connection tags of a node's neighbours in step with its lookup table: every node that is a
 * neighbour at some level (either side, alive or suspected dead) carries one tag; a node that is no longer a
 * neighbour at any level loses it. Driven by `'neighbor:change'`, which every table write emits.
 *
 * @module
 */
import type { Identifier } from '@skipmesh/core'
import type { ConnectionTagger } from './contract.js'
import type { NodeState } from './state.js'

/** The tag a node puts on its neighbours' connections. */
export const NEIGHBOR_TAG = 'skipgraph:neighbor'
/** Its value: above anything a transient peer (a search hop, a join's introducer) would carry. */
export const NEIGHBOR_TAG_VALUE = 100

export class NeighborTags {
  readonly #state: NodeState
  readonly #tagger: ConnectionTagger
  /** Tagged peers by hex id. */
  readonly #tagged = new Map<string, Identifier>()

  constructor(state: NodeState, tagger: ConnectionTagger) {
    this.#state = state
    this.#tagger = tagger
  }

  /** Tags new neighbours and untags former ones (call after any table write). */
  sync(): void {
    const current = new Map<string, Identifier>()
    for (const g of this.#state.neighborGroups(this.#state.table.topLevel, true))
      current.set(g.id.toHex(), g.id)
    for (const [hex, id] of this.#tagged) {
      if (current.has(hex)) continue
      this.#tagged.delete(hex)
      this.#tagger.untag(id, NEIGHBOR_TAG)
    }
    for (const [hex, id] of current) {
      if (this.#tagged.has(hex)) continue
      this.#tagged.set(hex, id)
      this.#tagger.tag(id, NEIGHBOR_TAG, { value: NEIGHBOR_TAG_VALUE, protect: true })
    }
  }

  /** Untags every peer (the node stopped). */
  clear(): void {
    for (const id of this.#tagged.values()) this.#tagger.untag(id, NEIGHBOR_TAG)
    this.#tagged.clear()
  }
}

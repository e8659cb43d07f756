/**
 * Contacts: the peers a node checks for another graph and rejoins through (README, "Merging graphs"): the
 * application's (`contacts` option), the node's former neighbours and the nodes it heard from, and the senders
 * of merge hints. Everything here is bounded; nothing is trusted (a contact is only a place to look).
 *
 * @module
 */
import type { Identifier } from '@skipmesh/core'
import { addBounded } from './liveness.js'

/** Former neighbours remembered (the most recent). */
const FORMER_REMEMBERED = 32
/** Merge hints waiting for their check. */
const HINTS_QUEUED = 16
/** Application contacts read per round (the first ones of a larger room). */
const APP_CONTACTS_READ = 256
/** Contacts found in this node's graph, remembered so that they are not checked again for a while. */
const SAME_REMEMBERED = 512

export interface ContactsInit {
  readonly selfHex: string
  /** The application's contacts (the `contacts` option). */
  readonly app: (() => Iterable<Identifier>) | undefined
  /** The nodes this node heard from lately. */
  readonly heard: () => Iterable<Identifier>
  /** How long a contact found in this node's graph is not checked again, in milliseconds. */
  readonly sameForMs: number
  readonly now: () => number
}

export class Contacts {
  readonly #init: ContactsInit
  readonly #former = new Map<string, Identifier>()
  readonly #hints = new Map<string, Identifier>()
  /** Contacts found in this node's graph, with when. */
  readonly #same = new Map<string, number>()
  /** Where the turn over the contacts stands. */
  #cursor = 0

  constructor(init: ContactsInit) {
    this.#init = init
  }

  /**
   * `id` was our neighbour and is not any more (it left, died, or a partition repaired it away). What was found
   * in this node's graph is forgotten too: a neighbour that goes may be the first sign that the graph split or that
   * part of it moved into another, and a contact found in it before must then be checked again.
   */
  noteFormer(id: Identifier): void {
    const hex = id.toHex()
    if (hex === this.#init.selfHex) return
    this.#same.clear()
    this.#former.delete(hex)
    addBounded(this.#former, hex, id, FORMER_REMEMBERED)
  }

  /** A merge hint came from `id`: check it first. Returns false when it was dropped (queue full). */
  hint(id: Identifier): boolean {
    const hex = id.toHex()
    if (hex === this.#init.selfHex || this.#hints.has(hex)) return this.#hints.has(hex)
    if (this.#hints.size >= HINTS_QUEUED) return false
    this.#same.delete(hex)
    this.#hints.set(hex, id)
    return true
  }

  /** Whether a merge hint waits for its check. */
  get hinted(): boolean {
    return this.#hints.size > 0
  }

  /** `id` was found in this node's graph: not checked again for `sameForMs`. */
  noteSame(id: Identifier): void {
    const hex = id.toHex()
    this.#same.delete(hex)
    addBounded(this.#same, hex, this.#init.now(), SAME_REMEMBERED)
  }

  /** Forgets what was found (the node left its graph). */
  forgetSame(): void {
    this.#same.clear()
  }

  /**
   * Up to `count` contacts to check now: hinted ones first, then the others in turn (the application's, the
   * former neighbours, the nodes heard from), skipping `skip` and those found in this graph lately.
   */
  next(count: number, skip: (id: Identifier) => boolean): Identifier[] {
    const out: Identifier[] = []
    for (const [hex, id] of this.#hints) {
      if (out.length >= count) break
      this.#hints.delete(hex)
      if (!skip(id)) out.push(id)
    }
    const all = this.all()
    const now = this.#init.now()
    for (let i = 0; i < all.length && out.length < count; i++) {
      const id = all[(this.#cursor + i) % all.length]!
      const hex = id.toHex()
      const since = this.#same.get(hex)
      if (since !== undefined && now - since < this.#init.sameForMs) continue
      if (skip(id) || out.some((x) => x.equals(id))) continue
      out.push(id)
      this.#cursor = (this.#cursor + i + 1) % all.length
    }
    return out
  }

  /** Every contact known now (deduplicated, this node excluded), the application's first. */
  all(): Identifier[] {
    const seen = new Set<string>([this.#init.selfHex])
    const out: Identifier[] = []
    const add = (id: Identifier): void => {
      const hex = id.toHex()
      if (seen.has(hex)) return
      seen.add(hex)
      out.push(id)
    }
    if (this.#init.app !== undefined) {
      let n = 0
      try {
        for (const id of this.#init.app()) {
          if (n++ >= APP_CONTACTS_READ) break
          add(id)
        }
      } catch {
        // the application's list failed: the node's own contacts still serve
      }
    }
    for (const id of this.#former.values()) add(id)
    for (const id of this.#init.heard()) add(id)
    return out
  }
}

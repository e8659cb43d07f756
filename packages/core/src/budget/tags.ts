import { InvalidOptionsError } from '../errors.js'
import { checkNumber } from '../internal/options.js'
import { isForbiddenKey } from '../internal/keys.js'
import type { Tag, TagOptions } from './contract.js'

/** Longest tag name. */
export const MAX_TAG_NAME_LENGTH = 64

interface StoredTag {
  value: number
  protect: boolean
  expiresAt: number | undefined
}

/**
 * Tags per peer (keyed by the peer's hex identifier), expiring lazily: an expired tag is dropped the next
 * time its peer is looked at, so the store needs no timer of its own.
 */
export class TagStore {
  readonly #peers = new Map<string, Map<string, StoredTag>>()
  readonly #now: () => number

  constructor(now: () => number = Date.now) {
    this.#now = now
  }

  /**
   * Sets the tag `name` of `peer`, replacing one of that name.
   * @throws {InvalidOptionsError} for a bad name, value or time to live.
   */
  set(peer: string, name: string, options: TagOptions = {}): void {
    if (typeof name !== 'string' || name.length === 0 || name.length > MAX_TAG_NAME_LENGTH) {
      throw new InvalidOptionsError(`a tag name must be 1–${MAX_TAG_NAME_LENGTH} characters`)
    }
    if (isForbiddenKey(name)) throw new InvalidOptionsError(`${name} is not allowed as a tag name`)
    const value =
      options.value === undefined
        ? 0
        : checkNumber('value', options.value, { min: 0, max: 100, integer: true })
    const ttl = options.ttlMs === undefined ? undefined : checkNumber('ttlMs', options.ttlMs, { min: 1 })
    if (options.protect !== undefined && typeof options.protect !== 'boolean') {
      throw new InvalidOptionsError('protect must be a boolean')
    }
    let tags = this.#peers.get(peer)
    if (tags === undefined) {
      tags = new Map()
      this.#peers.set(peer, tags)
    }
    tags.set(name, {
      value,
      protect: options.protect === true,
      expiresAt: ttl === undefined ? undefined : this.#now() + ttl,
    })
  }

  /** Removes the tag `name` of `peer`; true when it was there (and unexpired). */
  delete(peer: string, name: string): boolean {
    const tags = this.#live(peer)
    if (tags === undefined || !tags.delete(name)) return false
    if (tags.size === 0) this.#peers.delete(peer)
    return true
  }

  /** The live tags of `peer`. */
  get(peer: string): Tag[] {
    const tags = this.#live(peer)
    if (tags === undefined) return []
    return [...tags].map(([name, t]) =>
      t.expiresAt === undefined
        ? { name, value: t.value, protect: t.protect }
        : { name, value: t.value, protect: t.protect, expiresAt: t.expiresAt },
    )
  }

  /** The names of `peer`'s live tags. */
  names(peer: string): string[] {
    const tags = this.#live(peer)
    return tags === undefined ? [] : [...tags.keys()]
  }

  /** The sum of the values of `peer`'s live tags (0 for an untagged peer). */
  value(peer: string): number {
    let sum = 0
    for (const t of this.#live(peer)?.values() ?? []) sum += t.value
    return sum
  }

  /** Whether one of `peer`'s live tags protects it. */
  isProtected(peer: string): boolean {
    for (const t of this.#live(peer)?.values() ?? []) if (t.protect) return true
    return false
  }

  /** When the first of `peer`'s live tags expires, if any has a time to live. */
  nextExpiry(peer: string): number | undefined {
    let first: number | undefined
    for (const t of this.#live(peer)?.values() ?? []) {
      if (t.expiresAt !== undefined && (first === undefined || t.expiresAt < first)) first = t.expiresAt
    }
    return first
  }

  /** How many peers have live tags (expired ones are dropped first). */
  get size(): number {
    for (const peer of [...this.#peers.keys()]) this.#live(peer)
    return this.#peers.size
  }

  /** `peer`'s tag map with expired tags dropped; undefined when none are left. */
  #live(peer: string): Map<string, StoredTag> | undefined {
    const tags = this.#peers.get(peer)
    if (tags === undefined) return undefined
    const now = this.#now()
    for (const [name, t] of tags) if (t.expiresAt !== undefined && t.expiresAt <= now) tags.delete(name)
    if (tags.size > 0) return tags
    this.#peers.delete(peer)
    return undefined
  }
}

/**
 * Where registrations (which public key owns which id in which room, on which socket) live. Every server instance
 * must see the same registrations, so the memory registry serves one embedded server and the Redis registry
 * (./redis-registry.ts) serves a scaled-out deployment.
 *
 * @module
 */

/** A claim to register `id` in `room`. */
export interface Claim {
  /** Room name. */
  readonly room: string
  /** Claimed id (64 lowercase hex digits). */
  readonly id: string
  /** The Ed25519 public key (hex) that proved ownership. */
  readonly publicKey: string
  /** The Socket.IO socket id holding the registration. */
  readonly socketId: string
  /** The server instance the socket is connected to. */
  readonly instanceId: string
  /**
   * The id the socket joined with, when `id` is an extra identity of that socket (`add-identity`): the host that
   * carries it. Absent for a socket's own id.
   */
  readonly host?: string
}

/** The outcome of {@link Registry.claim}. */
export type ClaimResult =
  | {
      readonly ok: true
      /** The socket that held this id live before (same key, another socket): the caller evicts it. */
      readonly replacedSocketId?: string
    }
  | { readonly ok: false; readonly reason: 'id-taken' | 'room-full' }

/** What {@link Registry.owner} knows about an id. */
export interface Owner {
  /** The public key (hex) that owns the id. */
  readonly publicKey: string
  /** Whether the id is registered now (false: it left and is within its grace period). */
  readonly live: boolean
  /** The host of an extra identity (see {@link Claim.host}); absent for a socket's own id. */
  readonly host?: string
}

/** A registration released because its server instance died. */
export interface OrphanedRegistration {
  readonly room: string
  readonly id: string
}

/** The outcome of {@link Registry.heartbeat}. */
export interface HeartbeatResult {
  /** Registrations of dead instances this call released (each exactly once across all instances). */
  readonly released: OrphanedRegistration[]
  /**
   * Whether this instance had itself been declared dead (its registrations released) before this heartbeat: its
   * sockets hold registrations nobody sees any more, so the server disconnects them to make them register again.
   */
  readonly wasDeclaredDead: boolean
}

/** A page of ids of one room. */
export interface RegistryPage {
  /** Sorted ids. */
  readonly peers: string[]
  /** The last id of this page when more follow. */
  readonly nextCursor?: string
}

/** The registration store shared by every server instance. All methods may reject when the store is down. */
export interface Registry {
  /**
   * Atomically registers `claim.id` in `claim.room` for `claim.publicKey`: refused with `id-taken` when another key
   * owns the id (live or within its grace period), with `room-full` when the id is not live and the room already
   * holds `maxPeers` live ids (0 = no limit). The same key takes over a live registration from another socket.
   */
  claim(claim: Claim, maxPeers: number): Promise<ClaimResult>
  /**
   * Releases the live registration of `id` in `room` if `socketId` still holds it; the key keeps owning the id
   * for the grace period. Resolves true when this call released it (the caller announces `peer-left`).
   */
  release(room: string, id: string, socketId: string): Promise<boolean>
  /** Who owns `id` in `room`, or undefined when nobody does. */
  owner(room: string, id: string): Promise<Owner | undefined>
  /** Whether `id` is live in `room`. */
  isLive(room: string, id: string): Promise<boolean>
  /**
   * Optional: {@link Registry.isLive} answered at once, for a store in this process (the memory registry). The server
   * then decides a `signal` without a promise; without it, every signal waits for `isLive`.
   */
  isLiveNow?(room: string, id: string): boolean
  /** Live ids of `room` in ascending order, after `after` (exclusive), at most `limit`, skipping `exclude`. */
  list(room: string, options: { after?: string; limit: number; exclude?: string }): Promise<RegistryPage>
  /** Number of live ids in `room`. */
  count(room: string): Promise<number>
  /**
   * Records that `instanceId` is alive and releases the registrations of instances that stopped doing so. Called
   * periodically by every server instance.
   */
  heartbeat(instanceId: string): Promise<HeartbeatResult>
  /** Releases every live registration of `instanceId` (graceful shutdown) and forgets the instance. */
  retire(instanceId: string): Promise<OrphanedRegistration[]>
  /**
   * The live registrations `instanceId` holds, with their sockets; the server compares them with its connected
   * sockets and releases the ones whose release was lost (for example to a Redis outage).
   */
  held(instanceId: string): Promise<HeldRegistration[]>
}

/** A live registration and the socket holding it (see {@link Registry.held}). */
export interface HeldRegistration {
  readonly room: string
  readonly id: string
  readonly socketId: string
}

interface MemoryEntry {
  publicKey: string
  host: string | undefined
  socketId: string
  instanceId: string
  live: boolean
  /** When a released entry stops owning its id (ms since epoch). */
  expiresAt: number
}

/**
 * The in-memory registry of one embedded server. Grace periods expire lazily (on read), so it holds no timers.
 */
export class MemoryRegistry implements Registry {
  readonly #graceMs: number
  readonly #now: () => number
  readonly #rooms = new Map<string, Map<string, MemoryEntry>>()
  readonly #liveCount = new Map<string, number>()

  /** @param options.graceMs how long a released id stays owned by its key. */
  constructor(options: { graceMs: number; now?: () => number }) {
    this.#graceMs = options.graceMs
    this.#now = options.now ?? Date.now
  }

  #entry(room: string, id: string): MemoryEntry | undefined {
    const entries = this.#rooms.get(room)
    const entry = entries?.get(id)
    if (entry === undefined || entries === undefined) return undefined
    if (!entry.live && entry.expiresAt <= this.#now()) {
      entries.delete(id)
      if (entries.size === 0) this.#rooms.delete(room)
      return undefined
    }
    return entry
  }

  #addLive(room: string, delta: number): void {
    const n = (this.#liveCount.get(room) ?? 0) + delta
    if (n <= 0) this.#liveCount.delete(room)
    else this.#liveCount.set(room, n)
  }

  async claim(claim: Claim, maxPeers: number): Promise<ClaimResult> {
    const current = this.#entry(claim.room, claim.id)
    if (current !== undefined && current.publicKey !== claim.publicKey)
      return { ok: false, reason: 'id-taken' }
    if (current?.live !== true && maxPeers > 0 && (this.#liveCount.get(claim.room) ?? 0) >= maxPeers) {
      return { ok: false, reason: 'room-full' }
    }
    let entries = this.#rooms.get(claim.room)
    if (entries === undefined) {
      entries = new Map()
      this.#rooms.set(claim.room, entries)
    }
    entries.set(claim.id, {
      publicKey: claim.publicKey,
      host: claim.host,
      socketId: claim.socketId,
      instanceId: claim.instanceId,
      live: true,
      expiresAt: Number.POSITIVE_INFINITY,
    })
    if (current?.live === true) {
      return current.socketId !== claim.socketId
        ? { ok: true, replacedSocketId: current.socketId }
        : { ok: true }
    }
    this.#addLive(claim.room, 1)
    return { ok: true }
  }

  async release(room: string, id: string, socketId: string): Promise<boolean> {
    const entry = this.#entry(room, id)
    if (entry === undefined || !entry.live || entry.socketId !== socketId) return false
    entry.live = false
    entry.expiresAt = this.#now() + this.#graceMs
    this.#addLive(room, -1)
    return true
  }

  async owner(room: string, id: string): Promise<Owner | undefined> {
    const entry = this.#entry(room, id)
    if (entry === undefined) return undefined
    const owner = { publicKey: entry.publicKey, live: entry.live }
    return entry.host === undefined ? owner : { ...owner, host: entry.host }
  }

  async isLive(room: string, id: string): Promise<boolean> {
    return this.isLiveNow(room, id)
  }

  isLiveNow(room: string, id: string): boolean {
    return this.#entry(room, id)?.live === true
  }

  async list(
    room: string,
    options: { after?: string; limit: number; exclude?: string },
  ): Promise<RegistryPage> {
    const entries = this.#rooms.get(room)
    if (entries === undefined) return { peers: [] }
    const ids: string[] = []
    for (const [id, entry] of entries) {
      if (!entry.live || id === options.exclude) continue
      if (options.after !== undefined && id <= options.after) continue
      ids.push(id)
    }
    ids.sort()
    if (ids.length <= options.limit) return { peers: ids }
    const peers = ids.slice(0, options.limit)
    return { peers, nextCursor: peers[peers.length - 1]! }
  }

  async count(room: string): Promise<number> {
    return this.#liveCount.get(room) ?? 0
  }

  /** Drops expired grace entries (the memory registry has no other instances to watch). */
  async heartbeat(): Promise<HeartbeatResult> {
    const now = this.#now()
    for (const [room, entries] of this.#rooms) {
      for (const [id, entry] of entries) if (!entry.live && entry.expiresAt <= now) entries.delete(id)
      if (entries.size === 0) this.#rooms.delete(room)
    }
    return { released: [], wasDeclaredDead: false }
  }

  async held(instanceId: string): Promise<HeldRegistration[]> {
    const out: HeldRegistration[] = []
    for (const [room, entries] of this.#rooms) {
      for (const [id, entry] of entries) {
        if (entry.live && entry.instanceId === instanceId) out.push({ room, id, socketId: entry.socketId })
      }
    }
    return out
  }

  async retire(instanceId: string): Promise<OrphanedRegistration[]> {
    const released: OrphanedRegistration[] = []
    for (const [room, entries] of this.#rooms) {
      for (const [id, entry] of entries) {
        if (entry.live && entry.instanceId === instanceId) {
          entry.live = false
          entry.expiresAt = this.#now() + this.#graceMs
          this.#addLive(room, -1)
          released.push({ room, id })
        }
      }
    }
    return released
  }
}

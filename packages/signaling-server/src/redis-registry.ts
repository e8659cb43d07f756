/**
 * The Redis registry: registrations every server instance sees, with atomic claims (Lua), grace periods as key
 * TTLs, and per-instance liveness keys so surviving instances release the registrations of a dead one.
 *
 * Layout under `prefix` (default `skipmesh:signal`):
 * - `<p>:reg:<room>:<id>`: hash `pk`, `sid`, `inst`, `live` (`1`/`0`), `host` (the carrying socket's own id for an
 *   extra identity, empty otherwise); no TTL while live, `graceMs` once released.
 * - `<p>:room:<room>`: sorted set (all scores 0, ordered by id) of the live ids of a room.
 * - `<p>:inst:<instance>:regs`: set of `<room>:<id>` an instance holds live.
 * - `<p>:alive:<instance>`: liveness key with a TTL of `instanceTtlMs`, refreshed by every heartbeat.
 * - `<p>:instances`: set of instance ids.
 *
 * The scripts touch keys they compute, so this needs a single Redis (or a primary with replicas), not Redis Cluster.
 *
 * @module
 */
import { createHash } from 'node:crypto'
import type {
  Claim,
  ClaimResult,
  HeartbeatResult,
  HeldRegistration,
  OrphanedRegistration,
  Owner,
  Registry,
  RegistryPage,
} from './registry.js'

/** The one command this registry needs from a Redis client (node-redis v4/v5 `sendCommand`). */
export interface RedisCommander {
  sendCommand(args: string[]): Promise<unknown>
}

const CLAIM = `
local cur = redis.call('HMGET', KEYS[1], 'pk', 'sid', 'inst', 'live')
local pk, sid, inst, live = cur[1], cur[2], cur[3], cur[4]
if pk and pk ~= ARGV[1] then return {'id-taken'} end
local wasLive = (live == '1')
if not wasLive then
  local max = tonumber(ARGV[5])
  if max > 0 and redis.call('ZCARD', KEYS[2]) >= max then return {'room-full'} end
end
redis.call('HSET', KEYS[1], 'pk', ARGV[1], 'sid', ARGV[2], 'inst', ARGV[3], 'live', '1', 'host', ARGV[8])
redis.call('PERSIST', KEYS[1])
redis.call('ZADD', KEYS[2], 0, ARGV[4])
if wasLive and inst ~= ARGV[3] then redis.call('SREM', ARGV[7] .. ':inst:' .. inst .. ':regs', ARGV[6]) end
redis.call('SADD', KEYS[3], ARGV[6])
if wasLive and sid ~= ARGV[2] then return {'ok', sid} end
return {'ok'}
`

const RELEASE = `
local cur = redis.call('HMGET', KEYS[1], 'sid', 'inst', 'live')
if cur[3] ~= '1' or cur[1] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'live', '0')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[3])
redis.call('SREM', ARGV[5] .. ':inst:' .. cur[2] .. ':regs', ARGV[4])
return 1
`

// ARGV: prefix, instance, graceMs, onlyIfDead ('1' | '0')
const RETIRE = `
local p, inst = ARGV[1], ARGV[2]
if ARGV[4] == '1' and redis.call('EXISTS', p .. ':alive:' .. inst) == 1 then return {} end
local setKey = p .. ':inst:' .. inst .. ':regs'
local members = redis.call('SMEMBERS', setKey)
local out = {}
for _, m in ipairs(members) do
  local room, id = string.match(m, '^([^:]+):(.+)$')
  local reg = p .. ':reg:' .. m
  local cur = redis.call('HMGET', reg, 'inst', 'live')
  if cur[1] == inst and cur[2] == '1' then
    redis.call('HSET', reg, 'live', '0')
    redis.call('PEXPIRE', reg, ARGV[3])
    redis.call('ZREM', p .. ':room:' .. room, id)
    table.insert(out, m)
  end
end
redis.call('DEL', setKey)
redis.call('DEL', p .. ':alive:' .. inst)
redis.call('SREM', p .. ':instances', inst)
return out
`

// KEYS: alive key, instances set; ARGV: instance, ttlMs. Returns 1 when the instance was still known (not retired).
const BEAT = `
local was = redis.call('SISMEMBER', KEYS[2], ARGV[1])
redis.call('SET', KEYS[1], '1', 'PX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
return was
`

interface Script {
  readonly source: string
  readonly sha: string
}

function script(source: string): Script {
  return { source, sha: createHash('sha1').update(source).digest('hex') }
}

/** Options of {@link RedisRegistry}. */
export interface RedisRegistryOptions {
  /** The Redis client (node-redis). */
  readonly client: RedisCommander
  /** How long a released id stays owned by its key. */
  readonly graceMs: number
  /** TTL of an instance's liveness key; an instance silent for longer is declared dead. */
  readonly instanceTtlMs: number
  /** Key prefix. */
  readonly prefix: string
}

function splitMember(member: string): OrphanedRegistration {
  const i = member.indexOf(':')
  return { room: member.slice(0, i), id: member.slice(i + 1) }
}

/** Registrations in Redis, shared by every server instance that uses the same Redis and prefix. */
export class RedisRegistry implements Registry {
  readonly #client: RedisCommander
  readonly #graceMs: number
  readonly #instanceTtlMs: number
  readonly #p: string
  readonly #claim = script(CLAIM)
  readonly #release = script(RELEASE)
  readonly #retire = script(RETIRE)
  readonly #beat = script(BEAT)
  #beaten = false

  constructor(options: RedisRegistryOptions) {
    this.#client = options.client
    this.#graceMs = options.graceMs
    this.#instanceTtlMs = options.instanceTtlMs
    this.#p = options.prefix
  }

  async #eval(s: Script, keys: string[], args: string[]): Promise<unknown> {
    const tail = [String(keys.length), ...keys, ...args]
    try {
      return await this.#client.sendCommand(['EVALSHA', s.sha, ...tail])
    } catch (err) {
      if (!String((err as Error)?.message).includes('NOSCRIPT')) throw err
      return await this.#client.sendCommand(['EVAL', s.source, ...tail])
    }
  }

  #reg(room: string, id: string): string {
    return `${this.#p}:reg:${room}:${id}`
  }

  #room(room: string): string {
    return `${this.#p}:room:${room}`
  }

  async claim(claim: Claim, maxPeers: number): Promise<ClaimResult> {
    const res = (await this.#eval(
      this.#claim,
      [this.#reg(claim.room, claim.id), this.#room(claim.room), `${this.#p}:inst:${claim.instanceId}:regs`],
      [
        claim.publicKey,
        claim.socketId,
        claim.instanceId,
        claim.id,
        String(maxPeers),
        `${claim.room}:${claim.id}`,
        this.#p,
        claim.host ?? '',
      ],
    )) as string[]
    const [status, replaced] = res
    if (status === 'id-taken' || status === 'room-full') return { ok: false, reason: status }
    return replaced !== undefined ? { ok: true, replacedSocketId: replaced } : { ok: true }
  }

  async release(room: string, id: string, socketId: string): Promise<boolean> {
    const res = await this.#eval(
      this.#release,
      [this.#reg(room, id), this.#room(room)],
      [socketId, String(this.#graceMs), id, `${room}:${id}`, this.#p],
    )
    return Number(res) === 1
  }

  async owner(room: string, id: string): Promise<Owner | undefined> {
    const [pk, live, host] = (await this.#client.sendCommand([
      'HMGET',
      this.#reg(room, id),
      'pk',
      'live',
      'host',
    ])) as Array<string | null>
    if (pk === null || pk === undefined) return undefined
    const owner = { publicKey: pk, live: live === '1' }
    return host === null || host === undefined || host === '' ? owner : { ...owner, host }
  }

  async isLive(room: string, id: string): Promise<boolean> {
    return (await this.#client.sendCommand(['HGET', this.#reg(room, id), 'live'])) === '1'
  }

  async list(
    room: string,
    options: { after?: string; limit: number; exclude?: string },
  ): Promise<RegistryPage> {
    const min = options.after === undefined ? '-' : `(${options.after}`
    const raw = (await this.#client.sendCommand([
      'ZRANGEBYLEX',
      this.#room(room),
      min,
      '+',
      'LIMIT',
      '0',
      String(options.limit + 2),
    ])) as string[]
    const ids = raw.filter((id) => id !== options.exclude)
    if (ids.length <= options.limit) return { peers: ids }
    const peers = ids.slice(0, options.limit)
    return { peers, nextCursor: peers[peers.length - 1]! }
  }

  async count(room: string): Promise<number> {
    return Number(await this.#client.sendCommand(['ZCARD', this.#room(room)]))
  }

  async heartbeat(instanceId: string): Promise<HeartbeatResult> {
    const was = await this.#eval(
      this.#beat,
      [`${this.#p}:alive:${instanceId}`, `${this.#p}:instances`],
      [instanceId, String(this.#instanceTtlMs)],
    )
    const wasDeclaredDead = this.#beaten && Number(was) !== 1
    this.#beaten = true
    const instances = (await this.#client.sendCommand(['SMEMBERS', `${this.#p}:instances`])) as string[]
    const others = instances.filter((i) => i !== instanceId)
    const alive = await Promise.all(
      others.map(
        async (i) => Number(await this.#client.sendCommand(['EXISTS', `${this.#p}:alive:${i}`])) === 1,
      ),
    )
    const released: OrphanedRegistration[] = []
    for (const [k, inst] of others.entries()) {
      if (alive[k] === true) continue
      const members = (await this.#eval(
        this.#retire,
        [],
        [this.#p, inst, String(this.#graceMs), '1'],
      )) as string[]
      for (const m of members) released.push(splitMember(m))
    }
    return { released, wasDeclaredDead }
  }

  async held(instanceId: string): Promise<HeldRegistration[]> {
    const members = (await this.#client.sendCommand([
      'SMEMBERS',
      `${this.#p}:inst:${instanceId}:regs`,
    ])) as string[]
    const rows = await Promise.all(
      members.map(
        async (m) =>
          (await this.#client.sendCommand(['HMGET', `${this.#p}:reg:${m}`, 'sid', 'inst', 'live'])) as Array<
            string | null
          >,
      ),
    )
    const out: HeldRegistration[] = []
    for (const [k, m] of members.entries()) {
      const [sid, inst, live] = rows[k] ?? []
      if (typeof sid === 'string' && inst === instanceId && live === '1')
        out.push({ ...splitMember(m), socketId: sid })
    }
    return out
  }

  async retire(instanceId: string): Promise<OrphanedRegistration[]> {
    const members = (await this.#eval(
      this.#retire,
      [],
      [this.#p, instanceId, String(this.#graceMs), '0'],
    )) as string[]
    return members.map(splitMember)
  }
}

import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Identifier } from '@skipmesh/core'
import { createClient } from 'redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RedisRegistry } from '../src/redis-registry.js'
import { assertRelays, disconnected, joinAs, nextEvent, startServer } from './helpers.js'
import { type RedisProcess, startRedis } from './redis-server.js'
import { addIdentity, resolveHost } from './identity-support.js'
import { describeRegistry } from './registry-suite.js'

let started: { redis: RedisProcess; client: ReturnType<typeof createClient> } | undefined
let startError: unknown
/** The Redis of this file; every test fails (none is skipped) with the reason when it could not start. */
function need(): { redis: RedisProcess; client: ReturnType<typeof createClient> } {
  if (started === undefined) throw startError ?? new Error('redis-server not started')
  return started
}
let prefixes = 0
const nextPrefix = (): string => `test${++prefixes}-${process.pid}`

beforeAll(async () => {
  try {
    const redis = await startRedis()
    const client = createClient({ url: redis.url })
    await client.connect()
    started = { redis, client }
  } catch (err) {
    startError = err
  }
}, 20_000)

afterAll(async () => {
  await started?.client.quit()
  await started?.redis.stop()
})

const registries = (graceMs: number) => {
  const prefix = nextPrefix()
  const { client } = need()
  const make = () =>
    new RedisRegistry({
      client: { sendCommand: (args) => client.sendCommand(args) },
      graceMs,
      instanceTtlMs: 1000,
      prefix,
    })
  return { a: make(), b: make(), graceMs, prefix }
}

describeRegistry('redis', async () => registries(30_000), { drivableClock: false })

describe('redis registry', () => {
  it('gives a released registration a TTL of the grace period', async () => {
    const { client } = need()
    const { a, prefix } = registries(5000)
    const id = Identifier.random().toHex()
    await a.claim({ room: 'r', id, publicKey: '11'.repeat(32), socketId: 's', instanceId: 'i' }, 0)
    expect(Number(await client.sendCommand(['PTTL', `${prefix}:reg:r:${id}`]))).toBe(-1)
    await a.release('r', id, 's')
    const ttl = Number(await client.sendCommand(['PTTL', `${prefix}:reg:r:${id}`]))
    expect(ttl).toBeGreaterThan(0)
    expect(ttl).toBeLessThanOrEqual(5000)
  })

  it('releases the registrations of an instance whose liveness key expired, exactly once', async () => {
    const { client } = need()
    const { a, b, prefix } = registries(5000)
    const id = Identifier.random().toHex()
    await a.heartbeat('dead')
    await a.claim({ room: 'r', id, publicKey: '11'.repeat(32), socketId: 's', instanceId: 'dead' }, 0)
    expect((await b.heartbeat('alive')).released).toEqual([])
    await client.sendCommand(['DEL', `${prefix}:alive:dead`]) // what the TTL does when 'dead' stops beating
    const [first, second] = await Promise.all([b.heartbeat('alive'), a.heartbeat('other')])
    expect([...first.released, ...second.released]).toEqual([{ room: 'r', id }])
    expect(await b.isLive('r', id)).toBe(false)
    // the dead instance comes back: it learns it was declared dead
    expect((await a.heartbeat('dead')).wasDeclaredDead).toBe(true)
  })
})

describe('scale-out over Redis', () => {
  it('lets peers on two instances discover and signal each other both ways', async () => {
    const { redis } = need()
    const redisPrefix = nextPrefix()
    const s1 = await startServer({ redis: redis.url, redisPrefix })
    const s2 = await startServer({ redis: redis.url, redisPrefix })
    const a = await joinAs(s1.url, 'lobby')
    const joined = nextEvent(a.socket, 'peer-joined')
    const b = await joinAs(s2.url, 'lobby')
    expect(b.page.peers).toEqual([a.id])
    expect(await joined).toEqual({ id: b.id })
    await assertRelays(a, b)
    await assertRelays(b, a)
    const left = nextEvent(a.socket, 'peer-left')
    b.socket.disconnect()
    expect(await left).toEqual({ id: b.id })
  })

  it('counts in /metrics the signals it relays, and apart those whose addressee is on another instance', async () => {
    const { redis } = need()
    const redisPrefix = nextPrefix()
    const s1 = await startServer({ redis: redis.url, redisPrefix })
    const s2 = await startServer({ redis: redis.url, redisPrefix })
    const a = await joinAs(s1.url, 'lobby')
    const near = await joinAs(s1.url, 'lobby')
    const far = await joinAs(s2.url, 'lobby')
    await assertRelays(a, near)
    await assertRelays(a, far)
    await assertRelays(a, far)
    await assertRelays(far, near)
    const m1 = await s1.metrics()
    expect(m1).toMatch(/^skipmesh_signal_signals_relayed_total 3$/m)
    expect(m1).toMatch(/^skipmesh_signal_signals_relayed_remote_total 2$/m)
    const m2 = await s2.metrics()
    expect(m2).toMatch(/^skipmesh_signal_signals_relayed_total 1$/m)
    expect(m2).toMatch(/^skipmesh_signal_signals_relayed_remote_total 1$/m)
  })

  it("credits a peer's replies on its own instance when the session was opened from another", async () => {
    const { redis } = need()
    const redisPrefix = nextPrefix()
    const rateLimit = { points: 10, durationMs: 60_000, strikes: 1_000 }
    const s1 = await startServer({ redis: redis.url, redisPrefix, rateLimit })
    const s2 = await startServer({ redis: redis.url, redisPrefix, rateLimit })
    const opener = await joinAs(s1.url, 'lobby')
    const replier = await joinAs(s2.url, 'lobby') // 2 points: join, authenticate
    const got = nextEvent(replier.socket, 'signal', (s) => s.session === 'opened')
    const offer = { to: replier.id, session: 'opened', data: { type: 'offer' } }
    expect(await opener.socket.timeout(5000).emitWithAck('signal', offer)).toEqual({ ok: true })
    await got
    const codes: string[] = []
    // two replies on the credit, then the 8 points left, then refused
    for (const session of ['opened', 'opened', ...Array.from({ length: 9 }, (_, i) => `own-${i}`)]) {
      const res = await replier.socket
        .timeout(5000)
        .emitWithAck('signal', { to: opener.id, session, data: { type: 'answer' } })
      codes.push(res.ok ? 'ok' : res.error.code)
    }
    expect(codes).toEqual([...Array<string>(10).fill('ok'), 'rate-limited'])
  })

  it('refuses a hijack of an id registered on another instance and lets the owner move', async () => {
    const { redis } = need()
    const redisPrefix = nextPrefix()
    const s1 = await startServer({ redis: redis.url, redisPrefix })
    const s2 = await startServer({ redis: redis.url, redisPrefix })
    const watcher = await joinAs(s2.url, 'lobby')
    const owner = await joinAs(s1.url, 'lobby')
    await expect(joinAs(s2.url, 'lobby', { id: owner.id })).rejects.toMatchObject({ code: 'id-taken' })
    // same key on the other instance: the stale socket on s1 is disconnected across instances
    const oldGone = disconnected(owner.socket)
    const moved = await joinAs(s2.url, 'lobby', { id: owner.id, keys: owner.keys })
    expect(await oldGone).toBe('io server disconnect')
    await assertRelays(watcher, moved)
    await assertRelays(moved, watcher)
  })

  it('announces peer-left for the peers of a killed instance to the other instances', async () => {
    const { redis } = need()
    const redisPrefix = nextPrefix()
    const survivor = await startServer({
      redis: redis.url,
      redisPrefix,
      heartbeatIntervalMs: 100,
      // generous: under load a live instance must not miss its heartbeats long enough to be declared dead early
      instanceTtlMs: 2000,
    })
    const child: ChildProcess = spawn(
      process.execPath,
      [fileURLToPath(new URL('./fixtures/instance.mjs', import.meta.url)), redis.url, redisPrefix],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    try {
      const { url } = await new Promise<{ url: string }>((resolve, reject) => {
        let out = ''
        child.stdout?.on('data', (chunk: Buffer) => {
          out += chunk
          const line = out.split('\n')[0]
          if (out.includes('\n') && line !== undefined) resolve(JSON.parse(line) as { url: string })
        })
        child.once('exit', (code) => reject(new Error(`instance exited early with ${code}`)))
        AbortSignal.timeout(10_000).addEventListener('abort', () =>
          reject(new Error('instance did not start')),
        )
      })
      const watcher = await joinAs(survivor.url, 'lobby')
      const victim = await joinAs(url, 'lobby')
      await assertRelays(watcher, victim)

      const left = nextEvent(watcher.socket, 'peer-left', ({ id }) => id === victim.id, 20_000)
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
      child.kill('SIGKILL')
      await exited
      expect(await left).toEqual({ id: victim.id })

      // the dead peer's id is in its grace period: still owned by its key
      await expect(joinAs(survivor.url, 'lobby', { id: victim.id })).rejects.toMatchObject({
        code: 'id-taken',
      })
      const back = await joinAs(survivor.url, 'lobby', { id: victim.id, keys: victim.keys })
      expect(back.page.peers).toEqual([watcher.id])
      await assertRelays(watcher, back)
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    }
  })

  it('announces peer-left to the other instances when an instance shuts down gracefully', async () => {
    const { redis } = need()
    const redisPrefix = nextPrefix()
    const s1 = await startServer({ redis: redis.url, redisPrefix })
    const s2 = await startServer({ redis: redis.url, redisPrefix })
    const watcher = await joinAs(s1.url, 'lobby')
    const leaving = await joinAs(s2.url, 'lobby')
    const left = nextEvent(watcher.socket, 'peer-left')
    await s2.close()
    expect(await left).toEqual({ id: leaving.id })
  })

  it('reports Redis in /healthz', async () => {
    const { redis } = need()
    const server = await startServer({ redis: redis.url, redisPrefix: nextPrefix() })
    const res = await fetch(`${server.url}/healthz`)
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ status: 'ok', redis: 'ok', instanceId: server.instanceId })
  })

  it('answers internal while Redis is down and makes its peers register again once it is back', async () => {
    need()
    const own = await startRedis()
    try {
      const server = await startServer({ redis: own.url, heartbeatIntervalMs: 100, instanceTtlMs: 500 })
      const a = await joinAs(server.url, 'lobby')
      const b = await joinAs(server.url, 'lobby')
      await own.stop()
      const res = await a.socket.timeout(5000).emitWithAck('signal', { to: b.id, session: 's', data: {} })
      expect(res.ok === false && res.error.code).toBe('internal')
      expect((await fetch(`${server.url}/healthz`)).status).toBe(503)

      // Redis comes back empty: the instance finds itself unknown and drops its sockets so they register again
      const gone = disconnected(a.socket, 10_000)
      const restarted = await startRedis({ port: Number(new URL(own.url).port) })
      try {
        expect(await gone).toBe('io server disconnect')
        const a2 = await joinAs(server.url, 'lobby', { id: a.id, keys: a.keys })
        const b2 = await joinAs(server.url, 'lobby', { id: b.id, keys: b.keys })
        await assertRelays(a2, b2)
        await server.close()
      } finally {
        await restarted.stop()
      }
    } finally {
      await own.stop()
    }
  })

  it('fails to start with RedisUnavailableError when Redis is unreachable', async () => {
    const { freePort } = await import('./redis-server.js')
    const port = await freePort()
    await expect(
      startServer({ redis: `redis://127.0.0.1:${port}`, redisConnectTimeoutMs: 500 }),
    ).rejects.toMatchObject({ name: 'RedisUnavailableError' })
  })
})

describe('extra identities over Redis', () => {
  it('binds extra ids on one instance; another instance sees them with their host, resolves them, and sees them leave', async () => {
    const { redis } = need()
    const redisPrefix = nextPrefix()
    const s1 = await startServer({ redis: redis.url, redisPrefix })
    const s2 = await startServer({ redis: redis.url, redisPrefix })
    const watcher = await joinAs(s2.url, 'lobby')
    const host = await joinAs(s1.url, 'lobby')
    const joined = nextEvent(watcher.socket, 'peer-joined', (e) => e.host !== undefined)
    const extra = await addIdentity(host, 'lobby')
    expect(await joined).toEqual({ id: extra.id, host: host.id })
    expect(await resolveHost(watcher.socket, extra.id)).toBe(host.id)
    // another key cannot take the id on the other instance
    await expect(addIdentity(watcher, 'lobby', { id: extra.id })).rejects.toMatchObject({ code: 'id-taken' })
    const left = nextEvent(watcher.socket, 'peer-left', (e) => e.id === extra.id)
    host.socket.disconnect()
    await left
    expect(await resolveHost(watcher.socket, extra.id)).toBe('unknown')
  })
})

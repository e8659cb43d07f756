import { describe, expect, it } from 'vitest'
import { collect, joinAs, nextEvent, startServer } from './helpers.js'
import { addIdentity, type Extra, resolveHost } from './identity-support.js'

describe('extra identities on one socket', () => {
  it('binds each extra id to its own key; others see it with its host, resolve it, and see it leave', async () => {
    const server = await startServer()
    const watcher = await joinAs(server.url, 'lobby')
    const host = await joinAs(server.url, 'lobby')
    const joined = collect(watcher.socket, 'peer-joined')
    const left = collect(watcher.socket, 'peer-left')
    const extras: Extra[] = []
    for (let i = 0; i < 3; i++) extras.push(await addIdentity(host, 'lobby'))
    const lastJoined = extras[2]!.id
    if (!joined.some((e) => e.id === lastJoined))
      await nextEvent(watcher.socket, 'peer-joined', (e) => e.id === lastJoined)
    expect(joined).toEqual(extras.map((e) => ({ id: e.id, host: host.id })))
    const page = await watcher.socket.timeout(5000).emitWithAck('list-peers', {})
    expect(page.ok && [...page.peers].sort()).toEqual([host.id, ...extras.map((e) => e.id)].sort())
    for (const e of extras) expect(await resolveHost(watcher.socket, e.id)).toBe(host.id)
    expect(await resolveHost(watcher.socket, host.id)).toBe(host.id)
    // the host's own socket is not told about its own ids
    expect(await resolveHost(host.socket, extras[0]!.id)).toBe(host.id)

    const removedOne = nextEvent(watcher.socket, 'peer-left', (e) => e.id === extras[0]!.id)
    const removed = await host.socket.timeout(5000).emitWithAck('remove-identity', { id: extras[0]!.id })
    expect(removed).toEqual({ ok: true })
    await removedOne
    expect(await resolveHost(watcher.socket, extras[0]!.id)).toBe('unknown')

    // the socket going away releases its own id and every extra id it still carries
    const lastLeft = nextEvent(watcher.socket, 'peer-left', (e) => e.id === extras[2]!.id)
    host.socket.disconnect()
    await lastLeft
    // (the host's own id is released first, then its extra ids in the order they were added)
    expect(left.map((e) => e.id).sort()).toEqual([host.id, ...extras.map((e) => e.id)].sort())
    expect(await resolveHost(watcher.socket, extras[1]!.id)).toBe('unknown')
  })

  it('keeps the extra ids through the periodic reconcile of held registrations', async () => {
    // a reconcile every 20 ms beat: before the fix it released every extra id at its first run
    const server = await startServer({ heartbeatIntervalMs: 20, reconcileIntervalMs: 20 })
    const watcher = await joinAs(server.url, 'lobby')
    const host = await joinAs(server.url, 'lobby')
    const extra = await addIdentity(host, 'lobby')
    const left = collect(watcher.socket, 'peer-left')
    // the condition is time passing: ten reconcile runs
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(left).toEqual([])
    expect(await resolveHost(watcher.socket, extra.id)).toBe(host.id)
  })

  it('releases the extra ids on leave, and the key keeps owning them for the grace period', async () => {
    const server = await startServer({ graceMs: 60_000 })
    const watcher = await joinAs(server.url, 'lobby')
    const host = await joinAs(server.url, 'lobby')
    const extra = await addIdentity(host, 'lobby')
    const gone = nextEvent(watcher.socket, 'peer-left', (e) => e.id === extra.id)
    expect(await host.socket.timeout(5000).emitWithAck('leave', {})).toEqual({ ok: true })
    await gone
    await expect(addIdentity(watcher, 'lobby', { id: extra.id })).rejects.toMatchObject({ code: 'id-taken' })
    await addIdentity(watcher, 'lobby', { id: extra.id, keys: extra.keys })
    expect(await resolveHost(host.socket, extra.id)).toBe('refused:not-joined')
  })

  it('refuses a wrong signature, an id of another key, its own id, a proof without a challenge, and too many ids', async () => {
    const server = await startServer({ maxIdentitiesPerSocket: 2 })
    const other = await joinAs(server.url, 'lobby')
    const host = await joinAs(server.url, 'lobby')
    const impostor = await joinAs(server.url, 'lobby')
    await expect(addIdentity(host, 'lobby', { signWith: impostor.keys })).rejects.toMatchObject({
      code: 'bad-signature',
    })
    await expect(addIdentity(host, 'lobby', { id: other.id })).rejects.toMatchObject({ code: 'id-taken' })
    await expect(addIdentity(host, 'lobby', { id: host.id, keys: host.keys })).rejects.toMatchObject({
      code: 'already-joined',
    })
    const unasked = await host.socket
      .timeout(5000)
      .emitWithAck('prove-identity', { id: other.id, signature: 'ab'.repeat(64) })
    expect(unasked).toMatchObject({ ok: false, error: { code: 'not-joined' } })
    const notMine = await host.socket.timeout(5000).emitWithAck('remove-identity', { id: other.id })
    expect(notMine).toMatchObject({ ok: false, error: { code: 'not-joined' } })
    await addIdentity(host, 'lobby')
    await addIdentity(host, 'lobby')
    await expect(addIdentity(host, 'lobby')).rejects.toMatchObject({ code: 'too-many-identities' })
    expect(await resolveHost(host.socket, 'f'.repeat(64))).toBe('unknown')
  })

  it('resolves many ids in one request, naming only the live ones', async () => {
    const server = await startServer()
    const watcher = await joinAs(server.url, 'lobby')
    const host = await joinAs(server.url, 'lobby')
    const extras = [await addIdentity(host, 'lobby'), await addIdentity(host, 'lobby')]
    const ghost = 'e'.repeat(64)
    const res = await watcher.socket
      .timeout(5000)
      .emitWithAck('resolve', { ids: [host.id, extras[0]!.id, ghost, extras[1]!.id, extras[1]!.id] })
    expect(res).toEqual({
      ok: true,
      hosts: { [host.id]: host.id, [extras[0]!.id]: host.id, [extras[1]!.id]: host.id },
    })
    const tooMany = await watcher.socket
      .timeout(5000)
      .emitWithAck('resolve', { ids: Array.from({ length: 257 }, () => ghost) })
    expect(tooMany).toMatchObject({ ok: false, error: { code: 'invalid-payload' } })
  })
})

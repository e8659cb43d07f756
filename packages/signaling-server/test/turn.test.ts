import { createHmac } from 'node:crypto'
import { InvalidOptionsError } from '@skipmesh/core'
import { describe, expect, it } from 'vitest'
import { createSignalingServer } from '../src/index.js'
import { connect, joinAs, startServer } from './helpers.js'

const SECRET = 'shared-with-coturn'

describe('TURN credentials from the signaling server', () => {
  it('hands an authenticated peer a time-limited credential for its own id, never the secret', async () => {
    const server = await startServer({
      turn: { urls: ['turn:turn.example:3478'], secret: SECRET, ttlSeconds: 600 },
    })
    const peer = await joinAs(server.url, 'lobby')
    const before = Date.now()
    const res = await peer.socket.timeout(5000).emitWithAck('ice-servers', {})
    expect(res.ok).toBe(true)
    if (!res.ok) return
    expect(res.iceServers).toHaveLength(1)
    const [entry] = res.iceServers
    const [expiry, id] = entry!.username.split(':')
    expect(id).toBe(peer.id)
    expect(Number(expiry) * 1000).toBe(entry!.expiresAt)
    expect(entry!.expiresAt).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 600_000)
    expect(entry!.expiresAt).toBeLessThanOrEqual(Date.now() + 600_000)
    expect(entry!.credential).toBe(createHmac('sha1', SECRET).update(entry!.username).digest('base64'))
    expect(entry!.urls).toEqual(['turn:turn.example:3478'])
    expect(JSON.stringify(res)).not.toContain(SECRET)
  })

  it('answers an empty list without TURN, and refuses a socket that has not authenticated', async () => {
    const plain = await startServer()
    const peer = await joinAs(plain.url, 'lobby')
    expect(await peer.socket.timeout(5000).emitWithAck('ice-servers', {})).toEqual({
      ok: true,
      iceServers: [],
    })
    const withTurn = await startServer({ turn: { urls: ['turn:t.example'], secret: SECRET } })
    const stranger = await connect(withTurn.url)
    const refused = await stranger.timeout(5000).emitWithAck('ice-servers', {})
    expect(refused.ok === false && refused.error.code).toBe('not-joined')
  })

  it('refuses bad TURN options with InvalidOptionsError before listening', async () => {
    await expect(createSignalingServer({ turn: { urls: [], secret: SECRET } })).rejects.toBeInstanceOf(
      InvalidOptionsError,
    )
    await expect(createSignalingServer({ turn: { urls: ['turn:x'], secret: '' } })).rejects.toBeInstanceOf(
      InvalidOptionsError,
    )
  })
})

import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { channel, Identifier } from '@skipmesh/core'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { HeartbeatTimeoutError, TransportClosedError } from '../src/errors.js'
import {
  closeWatcher,
  connectedPair,
  implementations,
  managerFactory,
  useSignalingServer,
} from './helpers.js'

const fixture = useSignalingServer()

const HEARTBEAT_INTERVAL_MS = 250
const HEARTBEAT_TIMEOUT_MS = 1_000
/** The documented detection bound: heartbeatTimeoutMs + heartbeatIntervalMs (plus scheduling slack on a busy CI). */
const BOUND_MS = HEARTBEAT_TIMEOUT_MS + HEARTBEAT_INTERVAL_MS + 750

const pkg = fileURLToPath(new URL('..', import.meta.url))
let factory: ReturnType<typeof managerFactory>
let child: ChildProcess | undefined

beforeAll(async () => {
  // the killed peer runs in its own process, from the built package
  if (!existsSync(`${pkg}/dist/index.js`))
    execFileSync('npx', ['tsc', '-p', `${pkg}/tsconfig.json`], { stdio: 'inherit' })
})
afterEach(async () => {
  if (child?.exitCode === null) child.kill('SIGKILL')
  child = undefined
  await factory?.stopAll()
})

function spawnEchoPeer(room: string): Promise<{ process: ChildProcess; id: Identifier }> {
  const proc = spawn(process.execPath, [`${pkg}/test/fixtures/echo-peer.mjs`, fixture.server.url, room], {
    cwd: pkg,
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  child = proc
  return new Promise((resolve, reject) => {
    let out = ''
    proc.once('exit', (code) => reject(new Error(`echo peer exited early (${code})`)))
    proc.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      const line = out.split('\n')[0]
      if (out.includes('\n') && line !== undefined)
        resolve({ process: proc, id: Identifier.fromHex(JSON.parse(line).id) })
    })
  })
}

describe('liveness', () => {
  it('detects a peer process killed mid-traffic (SIGKILL): close fires once, within the heartbeat bound', async () => {
    factory = managerFactory(fixture.server, implementations.wrtc(), undefined, {
      heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
      heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
    })
    const a = await factory.make()
    const peer = await spawnEchoPeer(factory.room)
    const ab = await a.connect(peer.id, { signal: AbortSignal.timeout(15_000) })
    const closed = closeWatcher(ab)
    const ch = channel('traffic')
    let echoed = 0
    ab.on('message', () => {
      echoed++
    })
    // traffic flows both ways until the kill
    const firstEchoes = new Promise<void>((resolve) => {
      const off = ab.on('message', () => {
        if (echoed >= 50) {
          off()
          resolve()
        }
      })
    })
    let sending = true
    const pump = (async () => {
      let i = 0
      while (sending && ab.status === 'open') {
        await ab.send(ch, new Uint8Array(1024).fill(i++ & 0xff)).catch(() => {})
        if (i % 20 === 0) await new Promise((r) => setImmediate(r))
      }
    })()
    await firstEchoes
    const killedAt = performance.now()
    peer.process.kill('SIGKILL')
    const reason = await closed.closed
    const detectedAfter = closed.at()! - killedAt
    sending = false
    await pump
    expect(reason).toBeInstanceOf(HeartbeatTimeoutError)
    expect(detectedAfter).toBeLessThanOrEqual(BOUND_MS)
    expect(closed.count()).toBe(1)
    expect(ab.status).toBe('closed')
    expect(a.connections()).toEqual([])
    expect(a.metrics().heartbeatTimeouts).toBe(1)
    expect(a.metrics().peerConnectionsLive).toBe(0)
  })

  it('closes once with TransportClosedError when the remote destroys its peer connection without the close handshake', async () => {
    factory = managerFactory(fixture.server, implementations.wrtc(), undefined, {
      heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
      heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
    })
    const { a, ab, ba } = await connectedPair(factory)
    const closed = closeWatcher(ab)
    const startedAt = performance.now()
    ba.destroy(new Error('simulated crash'))
    const reason = await closed.closed
    // the stack reports the remote's teardown (SCTP abort / DTLS close) well before the heartbeat would
    expect(reason).toBeInstanceOf(TransportClosedError)
    expect(closed.at()! - startedAt).toBeLessThanOrEqual(BOUND_MS)
    expect(closed.count()).toBe(1)
    expect(a.connections()).toEqual([])
    // the next connect dials afresh
    const again = await a.connect(ab.remoteId)
    expect(again).not.toBe(ab)
    expect(again.status).toBe('open')
  })
})

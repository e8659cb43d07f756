/**
 * A real coturn (`turnserver`, Debian's `coturn`) for a test file: loopback only, relay allowed to loopback
 * peers, TURN REST API credentials (`use-auth-secret`), no TLS, no database on disk that outlives it.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../../../scripts/free-port.mjs'

/** A running coturn. */
export interface TurnServer {
  /** `turn:127.0.0.1:<port>?transport=udp` */
  readonly url: string
  readonly port: number
  readonly secret: string
  /** Everything coturn logged so far. */
  log(): string
  /** Kills coturn (SIGKILL) and waits for it to exit. Idempotent. */
  stop(): Promise<void>
}

/** Resolves once a STUN Binding request to `port` is answered (coturn is serving), or rejects at the deadline. */
async function stunAnswers(port: number, signal: AbortSignal): Promise<void> {
  const socket = createSocket('udp4')
  try {
    await new Promise<void>((resolve, reject) => {
      // Binding request: type 0x0001, length 0, magic cookie, 12-byte transaction id
      const request = Buffer.alloc(20)
      request.writeUInt16BE(0x0001, 0)
      request.writeUInt32BE(0x2112a442, 4)
      for (let i = 8; i < 20; i++) request[i] = (Math.random() * 256) | 0
      socket.on('message', (msg) => {
        if (msg.length >= 20 && msg.readUInt16BE(0) === 0x0101) resolve()
      })
      socket.on('error', reject)
      const send = () => socket.send(request, port, '127.0.0.1')
      const timer = setInterval(send, 100)
      send()
      signal.addEventListener('abort', () => {
        clearInterval(timer)
        reject(signal.reason)
      })
      socket.once('message', () => clearInterval(timer))
    })
  } finally {
    socket.close()
  }
}

/** Options of {@link startTurnServer}. */
export interface TurnServerOptions {
  /** The loopback port (a coturn started again on the port of one that was stopped, say); default: a free one. */
  readonly port?: number
}

/**
 * Starts coturn on a loopback port (a free one unless `options.port`) with `secret` as its `static-auth-secret`.
 * @throws {Error} with an explanation when `turnserver` is not installed (`apt-get install coturn`).
 */
export async function startTurnServer(secret: string, options: TurnServerOptions = {}): Promise<TurnServer> {
  const bin = process.env.TURNSERVER ?? 'turnserver'
  // free for TCP; coturn listens on UDP and TCP on the same port
  const port = options.port ?? (await freePort())
  const dir = await mkdtemp(join(tmpdir(), 'skipmesh-turn-'))
  const child: ChildProcess = spawn(
    bin,
    [
      '-n', // no configuration file
      `--listening-ip=127.0.0.1`,
      `--listening-port=${port}`,
      '--relay-ip=127.0.0.1',
      '--allow-loopback-peers',
      '--use-auth-secret',
      `--static-auth-secret=${secret}`,
      '--realm=skipmesh.test',
      '--no-cli',
      '--no-tls',
      '--no-dtls',
      '--log-file=stdout',
      '--simple-log',
      `--pidfile=${join(dir, 'turnserver.pid')}`,
      `--userdb=${join(dir, 'turndb')}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk
  })
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exited
    }
    await rm(dir, { recursive: true, force: true })
  }
  try {
    await new Promise<void>((resolve, reject) => {
      child.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          new Error(
            err.code === 'ENOENT'
              ? 'turnserver is not installed (apt-get install coturn, or set TURNSERVER): the relay tests need a real TURN server'
              : `cannot start turnserver: ${err.message}`,
          ),
        ),
      )
      child.once('exit', (code) => reject(new Error(`turnserver exited with ${code}:\n${output}`)))
      stunAnswers(port, AbortSignal.timeout(10_000)).then(resolve, (err: unknown) =>
        reject(new Error(`turnserver did not answer STUN within 10 s (${String(err)}):\n${output}`)),
      )
    })
  } catch (err) {
    await stop()
    throw err
  }
  return { url: `turn:127.0.0.1:${port}?transport=udp`, port, secret, log: () => output, stop }
}

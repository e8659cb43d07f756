/**
 * The Redis clients of a scaled-out server: two for the Socket.IO adapter (publish, subscribe) and one for registry
 * commands, connected together within a deadline and closed together.
 *
 * @module
 */
import { AbortError } from '@skipmesh/core'
import { createClient } from 'redis'
import { RedisUnavailableError } from './errors.js'
import type { Logger } from './logger.js'

/** A node-redis client. */
export type RedisClient = ReturnType<typeof createClient>

/** The connected clients of one server. */
export interface RedisClients {
  /** The adapter's publishing client. */
  readonly pub: RedisClient
  /** The adapter's subscribing client. */
  readonly sub: RedisClient
  /** Registry commands and `/healthz` pings: fails fast while Redis is unreachable (no offline queue). */
  readonly cmd: RedisClient
  /** Quits every client (at most 2 s), then destroys what is still open. Never rejects. */
  quit(): Promise<void>
}

/**
 * Connects the three clients to `url`.
 *
 * @throws {RedisUnavailableError} when Redis cannot be reached within `connectTimeoutMs`.
 * @throws {AbortError} when `signal` aborts first.
 */
export async function connectRedis(
  url: string,
  options: { connectTimeoutMs: number; log: Logger; signal?: AbortSignal | undefined },
): Promise<RedisClients> {
  const { connectTimeoutMs, log, signal } = options
  const pub = createClient({
    url,
    socket: {
      connectTimeout: connectTimeoutMs,
      reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, 2000),
    },
  })
  const sub = pub.duplicate()
  const cmd = pub.duplicate({ disableOfflineQueue: true })
  const all = [pub, sub, cmd]
  for (const [name, c] of [
    ['pub', pub],
    ['sub', sub],
    ['cmd', cmd],
  ] as const) {
    c.on('error', (err: unknown) => log.warn('redis client error', { client: name, err: String(err) }))
  }
  let timer: NodeJS.Timeout | undefined
  let onAbort: (() => void) | undefined
  try {
    await Promise.race([
      Promise.all(all.map((c) => c.connect())),
      new Promise((_, rejectRace) => {
        timer = setTimeout(
          () => rejectRace(new RedisUnavailableError(`redis ${url} unreachable for ${connectTimeoutMs} ms`)),
          connectTimeoutMs,
        )
        onAbort = () => rejectRace(new AbortError())
        signal?.addEventListener('abort', onAbort, { once: true })
      }),
    ])
  } catch (err) {
    for (const c of all) {
      try {
        c.destroy()
      } catch {
        // not connected yet: nothing to destroy
      }
    }
    throw err instanceof RedisUnavailableError || err instanceof AbortError
      ? err
      : new RedisUnavailableError(`redis ${url}: ${String(err)}`, { cause: err })
  } finally {
    clearTimeout(timer)
    if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort)
  }
  const quit = async (): Promise<void> => {
    await Promise.race([
      Promise.allSettled(all.map(async (c) => c.isOpen && (await c.quit()))),
      new Promise((resolve) => setTimeout(resolve, 2000).unref()),
    ])
    for (const c of all) {
      try {
        if (c.isOpen) c.destroy()
      } catch {
        // already closed
      }
    }
  }
  return { pub, sub, cmd, quit }
}

/** Whether Redis answers a PING on `cmd` within `timeoutMs`. */
export async function pingRedis(cmd: RedisClient, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([
      cmd.ping(),
      new Promise((_, rej) => {
        timer = setTimeout(() => rej(new Error('timeout')), timeoutMs)
        timer.unref()
      }),
    ])
    return true
  } catch {
    return false
  } finally {
    clearTimeout(timer)
  }
}

export { freePort } from '../../../scripts/free-port.mjs'

/** A redis-server started for a test file. */
export interface RedisProcess {
  readonly url: string
  stop(): Promise<void>
}

/**
 * Starts `redis-server` (no persistence) on a free port and resolves once it accepts connections.
 * @throws {Error} with an explanation when redis-server is not installed: these tests need it.
 */
export function startRedis(options?: { port?: number }): Promise<RedisProcess>

// Starts a real redis-server (no persistence) on a free port, for the tests and the Redis benchmark
// (bench/redis.mjs), which cannot import TypeScript. Types in redis-server.d.mts; tests import redis-server.ts.
import { spawn } from 'node:child_process'
import { freePort } from '../../../scripts/free-port.mjs'

export { freePort }

/**
 * Starts `redis-server` (no persistence) on a free port and resolves once it accepts connections.
 * @param {{ port?: number }} [options]
 * @returns {Promise<{ url: string, stop(): Promise<void> }>}
 * @throws {Error} with an explanation when redis-server is not installed: these tests need it.
 */
export async function startRedis(options = {}) {
  const bin = process.env.REDIS_SERVER ?? 'redis-server'
  const port = options.port ?? (await freePort())
  const child = spawn(
    bin,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let output = ''
  await new Promise((resolve, reject) => {
    const signal = AbortSignal.timeout(10_000)
    signal.addEventListener('abort', () =>
      reject(new Error(`redis-server did not start in 10 s:\n${output}`)),
    )
    child.once('error', (err) =>
      reject(
        new Error(
          err.code === 'ENOENT'
            ? `redis-server is not installed (set REDIS_SERVER or apt-get install redis-server): the scale-out tests need a real Redis`
            : `cannot start redis-server: ${err.message}`,
        ),
      ),
    )
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}:\n${output}`)))
    child.stdout?.on('data', (chunk) => {
      output += chunk
      if (output.includes('Ready to accept connections')) resolve(undefined)
    })
  })
  child.stdout?.removeAllListeners('data')
  child.stdout?.resume()
  child.removeAllListeners('exit')
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', () => resolve(undefined)))
      child.kill('SIGKILL')
      await exited
    },
  }
}

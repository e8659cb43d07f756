// A loopback port that was free a moment ago: bind port 0, read it, close. For tests and tools that start
// servers (redis-server, coturn, the signaling server) on a port of their own.
import { createServer } from 'node:net'

/** @returns {Promise<number>} */
export async function freePort() {
  const server = createServer()
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)))
  const address = server.address()
  await new Promise((resolve) => server.close(() => resolve(undefined)))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

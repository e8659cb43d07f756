// One server under benchmark, in its own process (so the load generator does not share its event loop).
// Usage (forked with IPC): node server-child.mjs skipmesh|peerjs [redisUrl]. Sends { port } once listening; answers
// 'cpu' with process.cpuUsage() and (skipmesh) 'metrics' with its /metrics text; exits on 'stop'.
import { PeerServer } from 'peer'
import { createSignalingServer, silentLogger } from '../dist/index.js'

const kind = process.argv[2]
const redis = process.argv[3]
let close = async () => {}
let metrics = async () => ''
if (kind === 'skipmesh') {
  const server = await createSignalingServer({
    logger: silentLogger,
    // the benchmark measures capacity: lift the per-socket budget (200 requests/s by default) out of the way
    rateLimit: { points: 1_000_000_000 },
    maxPeersPerRoom: 0,
    ...(redis === undefined ? {} : { redis }),
  })
  close = () => server.close()
  metrics = () => server.metrics()
  process.send({ port: server.port })
} else if (kind === 'peerjs') {
  await new Promise((resolve) => {
    PeerServer({ port: 0, host: '127.0.0.1', path: '/', concurrent_limit: 100_000 }, (server) => {
      close = () => new Promise((r) => server.close(() => r()))
      process.send({ port: server.address().port })
      resolve()
    })
  })
} else {
  throw new Error(`unknown server kind ${kind}`)
}

process.on('message', async (msg) => {
  if (msg === 'cpu') process.send({ cpu: process.cpuUsage() })
  if (msg === 'metrics') process.send({ metrics: await metrics() })
  if (msg === 'stop') {
    await Promise.race([close(), new Promise((r) => setTimeout(r, 2000))])
    process.exit(0)
  }
})

#!/usr/bin/env node
// Serves the built demo (apps/demo/dist) and the signaling server from one origin, as `npm start` does:
//   PORT (default 8787) and HOST (default 127.0.0.1) from the environment; LOG_LEVEL (default 'warn').
// Build first (`npm run build` at the root, or `npm run build -w @skipmesh/demo` once the packages are built).
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { createJsonLogger, createSignalingServer } from '@skipmesh/signaling-server'

const staticDir = fileURLToPath(new URL('./dist', import.meta.url))
if (!existsSync(`${staticDir}/index.html`)) {
  console.error(`skipmesh demo: ${staticDir}/index.html is missing; run \`npm run build\` first`)
  process.exit(1)
}

const port = Number.parseInt(process.env.PORT ?? '8787', 10)
const host = process.env.HOST ?? '127.0.0.1'
const server = await createSignalingServer({
  port,
  host,
  staticDir,
  logger: createJsonLogger({ level: process.env.LOG_LEVEL ?? 'warn' }),
})
console.log(`skipmesh demo and signaling server: ${server.url}/`)
console.log('open it in a few tabs (add ?nodes=4 for four nodes per tab); Ctrl-C stops')

let closing = false
const stop = () => {
  if (closing) return
  closing = true
  server.close().then(
    () => process.exit(0),
    () => process.exit(1),
  )
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)

#!/usr/bin/env node
// `npm start`: builds every package and the demo, then serves the demo and the signaling server from one
// origin (embedded, in-memory). PORT (default 8787) and HOST (default 127.0.0.1) come from the environment.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const build = spawnSync('npx', ['turbo', 'run', 'build', '--output-logs=errors-only'], {
  cwd: root,
  stdio: 'inherit',
})
if (build.status !== 0) {
  console.error('build failed')
  process.exit(build.status ?? 1)
}
await import(new URL('../apps/demo/serve.mjs', import.meta.url).href)

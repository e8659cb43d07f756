import { fileURLToPath } from 'node:url'
import type { FullConfig } from '@playwright/test'
import { createJsonLogger, createSignalingServer } from '@skipmesh/signaling-server'
import { build } from 'vite'

/** Where the harness page is built; the signaling server serves it as its `staticDir`. */
export const HARNESS_DIST = fileURLToPath(new URL('./dist', import.meta.url))

/**
 * Builds the harness page, then starts one signaling server on port 0 serving it. Workers learn the URL from
 * `SKIPMESH_SIGNAL_URL` (the page is at its root, so the page and Socket.IO share one origin).
 * Returns the teardown that closes the server.
 */
export default async function globalSetup(_config: FullConfig): Promise<() => Promise<void>> {
  await build({ configFile: fileURLToPath(new URL('./harness/vite.config.ts', import.meta.url)) })
  const server = await createSignalingServer({
    port: 0,
    host: '127.0.0.1',
    staticDir: HARNESS_DIST,
    logger: createJsonLogger({ level: 'warn' }),
  })
  process.env.SKIPMESH_SIGNAL_URL = server.url
  return async () => {
    await server.close()
  }
}

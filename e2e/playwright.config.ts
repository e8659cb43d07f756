import { fileURLToPath } from 'node:url'
import { defineConfig } from '@playwright/test'
import { contextOptions, launchOptions } from '../scripts/chromium.mjs'

/** Port of the demo + signaling server that `webServer` starts (the restart test spawns its own). */
export const PORT = Number.parseInt(process.env.E2E_PORT ?? process.env.PORT ?? '8799', 10)

export default defineConfig({
  testDir: './tests',
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 150_000,
  expect: { timeout: 30_000 },
  reporter: [['list'], ['json', { outputFile: 'test-results/playwright.json' }]],
  outputDir: 'test-results/artifacts',
  use: {
    baseURL: `http://127.0.0.1:${PORT}`,
    browserName: 'chromium',
    headless: true,
    ...contextOptions,
    screenshot: 'only-on-failure',
    trace: 'off',
    launchOptions: launchOptions(),
  },
  webServer: {
    command: `node ${fileURLToPath(new URL('../apps/demo/serve.mjs', import.meta.url))}`,
    env: { PORT: String(PORT), HOST: '127.0.0.1', LOG_LEVEL: 'warn' },
    url: `http://127.0.0.1:${PORT}/`,
    reuseExistingServer: false,
    timeout: 30_000,
    stdout: 'pipe',
    stderr: 'pipe',
  },
})

import { fileURLToPath } from 'node:url'
import { defineConfig } from '@playwright/test'
import { contextOptions, launchOptions } from '../../../scripts/chromium.mjs'

/**
 * The browser suite of `@skipmesh/webrtc`: real Chromium, each peer in its own browser context, talking
 * through a real signaling server (port 0) that also serves the Vite-built harness page.
 */
export default defineConfig({
  testDir: './specs',
  outputDir: fileURLToPath(new URL('../test-results/playwright-output', import.meta.url)),
  globalSetup: './global-setup.ts',
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: true,
  timeout: 60_000,
  globalTimeout: 8 * 60_000,
  expect: { timeout: 15_000 },
  reporter: [
    ['list'],
    ['json', { outputFile: fileURLToPath(new URL('../test-results/playwright.json', import.meta.url)) }],
  ],
  use: {
    browserName: 'chromium',
    headless: true,
    launchOptions: launchOptions(),
    ...contextOptions,
    trace: 'off',
  },
})

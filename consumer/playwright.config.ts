import { defineConfig } from '@playwright/test'
import { contextOptions, launchOptions } from '../scripts/chromium.mjs'

/**
 * The consumer suite: the published tarballs as a new user meets them (see README.md). `global-setup.ts` packs
 * and installs once; the tests only read what it made.
 */
export default defineConfig({
  testDir: './tests',
  globalSetup: './global-setup.ts',
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: true,
  timeout: 90_000,
  globalTimeout: 20 * 60_000,
  expect: { timeout: 30_000 },
  reporter: [['list'], ['json', { outputFile: 'test-results/playwright.json' }]],
  outputDir: 'test-results/artifacts',
  use: {
    browserName: 'chromium',
    headless: true,
    ...contextOptions,
    trace: 'off',
    launchOptions: launchOptions(),
  },
})

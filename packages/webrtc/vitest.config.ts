import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    // native WebRTC addons (@roamhq/wrtc, node-datachannel) belong in child processes, not worker threads
    pool: 'forks',
    // a worker that dies says why (a signal) and which tests it was running (see the two modules)
    setupFiles: ['./test/worker-signals.ts'],
    reporters: [
      'default',
      './test/worker-exit-reporter.ts',
      ['json', { outputFile: 'test-results/vitest.json' }],
    ],
  },
})

import { createRequire } from 'node:module'
import { defineConfig } from 'vite'

const require = createRequire(import.meta.url)

// simple-peer and its stream dependencies expect a few Node globals: `global` is aliased here, `process` is
// polyfilled by src/polyfills.ts (imported first by main.ts), and `events` resolves to the npm package
// rather than to Vite's empty browser stub for the Node built-in.
export default defineConfig({
  define: { global: 'globalThis' },
  resolve: {
    alias: {
      events: require.resolve('events/'),
      process: require.resolve('process/browser.js'),
    },
  },
  build: { target: 'es2022', sourcemap: true, chunkSizeWarningLimit: 2000 },
  server: { host: '127.0.0.1' },
})

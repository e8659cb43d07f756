import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

const root = fileURLToPath(new URL('.', import.meta.url))

/** Builds the harness page into `test-browser/dist`, served by the signaling server's `staticDir`. */
export default defineConfig({
  root,
  base: './',
  logLevel: 'warn',
  define: { global: 'globalThis' },
  plugins: [
    {
      // @skipmesh/webrtc declares `"sideEffects": false`, which would drop the harness's bare
      // `import './polyfills.js'`: that module exists only for its side effect.
      name: 'harness-polyfills-have-side-effects',
      transform(code, id) {
        if (id.endsWith('/harness/src/polyfills.ts')) return { code, map: null, moduleSideEffects: true }
        return undefined
      },
    },
  ],
  resolve: {
    alias: {
      events: 'events/',
      process: 'process/browser.js',
    },
  },
  build: {
    outDir: fileURLToPath(new URL('../dist', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    minify: false,
    sourcemap: true,
    reportCompressedSize: false,
  },
})

import { defineConfig } from 'vite'

export default defineConfig({
  build: { target: 'es2022', sourcemap: true, chunkSizeWarningLimit: 2000 },
  server: { host: '127.0.0.1' },
})

/**
 * Installs the `process` global simple-peer's dependencies (readable-stream) read at run time. Imported first
 * by the harness entry so that it runs before any module that reads it.
 *
 * No global `Buffer`: simple-peer imports the `buffer` package itself, and a global one makes msgpackr (the
 * envelope codec) allocate polyfilled `Buffer`s instead of plain `Uint8Array`s, which costs measurably.
 *
 * @module
 */
import process from 'process'

const g = globalThis as unknown as { process?: unknown }
g.process ??= process

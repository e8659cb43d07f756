/**
 * Installs the Node globals simple-peer (and its readable-stream / buffer dependencies) expect. Imported
 * first by the harness entry so that it runs before any module that reads `process` or `Buffer`.
 *
 * @module
 */
// biome-ignore lint/style/useNodejsImportProtocol: the npm `buffer` polyfill for the browser, not Node's module
import { Buffer } from 'buffer'
// biome-ignore lint/style/useNodejsImportProtocol: the npm `process` polyfill for the browser, not Node's module
import process from 'process'

const g = globalThis as unknown as { process?: unknown; Buffer?: unknown }
g.process ??= process
g.Buffer ??= Buffer

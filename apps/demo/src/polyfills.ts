// Must be the first import of the app: simple-peer's stream dependencies read `process` at module load.
import process from 'process'

const g = globalThis as { process?: unknown }
g.process ??= process

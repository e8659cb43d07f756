import { afterEach, beforeEach } from 'vitest'

/**
 * A vitest setup file: runs in every test worker. A worker killed by a signal from outside while a test runs (vitest
 * itself stops a worker only between tests) says so on stderr, with that test, then dies of the same signal. A worker
 * that crashes (SIGSEGV, an abort) cannot say anything, so the two causes of "Worker exited unexpectedly" differ.
 */
function reportSignalsWhileTesting(): void {
  let running: string | undefined
  beforeEach((ctx) => {
    running = ctx.task.fullName
  })
  afterEach(() => {
    running = undefined
  })
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(signal, () => {
      if (running !== undefined) {
        process.stderr.write(`\ntest worker ${process.pid} received ${signal} while running "${running}"\n`)
      }
      process.kill(process.pid, signal)
    })
  }
}

reportSignalsWhileTesting()

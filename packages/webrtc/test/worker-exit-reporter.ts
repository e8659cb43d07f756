import type { Reporter, SerializedError, TestCase } from 'vitest/node'

/**
 * Names the tests of a test worker that died. Vitest reports a dead worker (a native crash, a kill from outside)
 * only as "Worker exited unexpectedly"; this reporter then lists the tests that had started without a result: the
 * one running when the worker died, and any whose result the worker had not sent yet.
 */
export default class WorkerExitReporter implements Reporter {
  readonly #unfinished = new Map<string, TestCase>()

  onTestCaseReady(test: TestCase): void {
    this.#unfinished.set(test.id, test)
  }

  onTestCaseResult(test: TestCase): void {
    this.#unfinished.delete(test.id)
  }

  onTestRunEnd(_modules: unknown, errors: ReadonlyArray<SerializedError>): void {
    const workerExited = errors.some((e) =>
      /Worker exited unexpectedly/.test(`${e.message} ${(e.cause as SerializedError | undefined)?.message}`),
    )
    if (!workerExited || this.#unfinished.size === 0) return
    const tests = [...this.#unfinished.values()].map((t) => `  ${t.module.relativeModuleId} > ${t.fullName}`)
    process.stderr.write(
      `\nA test worker exited unexpectedly; tests started without a result:\n${tests.join('\n')}\n`,
    )
  }
}

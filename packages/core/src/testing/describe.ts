import { describe, it } from 'vitest'
import { budgetCases } from './budget-cases.js'
import { type ComplianceCase, connectionManagerCases } from './cases.js'
import type { ComplianceOptions, ConnectionManagerSetup } from './fixture.js'

/** Defaults of {@link ComplianceOptions}. */
export const DEFAULT_COMPLIANCE_OPTIONS: Required<ComplianceOptions> = {
  timeoutMs: 30_000,
  largePayloadBytes: 1024 * 1024,
}

/**
 * Registers the `ConnectionManager` compliance suite with vitest: one `it` per case of
 * {@link connectionManagerCases}, each with a fresh fixture from `setup`, torn down even when the case fails.
 * @example
 * ```ts
 * describeConnectionManager('MemoryHub', async () => {
 *   const hub = new MemoryHub()
 *   const managers: ConnectionManager[] = []
 *   return {
 *     async create(id) { const m = hub.connectionManager(id); managers.push(m); m.start(); await m.ready(); return m },
 *     unknownId: () => Identifier.random(),
 *     async teardown() { await Promise.all(managers.map((m) => m.stop())) },
 *   }
 * })
 * ```
 */
export function describeConnectionManager(
  name: string,
  setup: ConnectionManagerSetup,
  options: ComplianceOptions = {},
): void {
  describeCases(`ConnectionManager compliance: ${name}`, connectionManagerCases, setup, options)
}

/**
 * Registers the connection-budget compliance cases ({@link budgetCases}) with vitest: a budget wraps the
 * fixture's managers, so pruning, graceful closes and redials run over the transport under test.
 * @example
 * ```ts
 * describeConnectionBudget('MemoryHub', async () => memoryFixture())
 * ```
 */
export function describeConnectionBudget(
  name: string,
  setup: ConnectionManagerSetup,
  options: ComplianceOptions = {},
): void {
  describeCases(`ConnectionBudget compliance: ${name}`, budgetCases, setup, options)
}

/** One vitest `it` per case, each with a fresh fixture from `setup`, torn down even when the case fails. */
function describeCases(
  title: string,
  cases: readonly ComplianceCase[],
  setup: ConnectionManagerSetup,
  options: ComplianceOptions,
): void {
  const resolved: Required<ComplianceOptions> = { ...DEFAULT_COMPLIANCE_OPTIONS, ...options }
  describe(title, () => {
    for (const c of cases) {
      it(
        c.name,
        async () => {
          const fixture = await setup()
          try {
            await c.run(fixture, resolved)
          } finally {
            await fixture.teardown()
          }
        },
        resolved.timeoutMs + 5_000,
      )
    }
  })
}

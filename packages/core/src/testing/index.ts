/**
 * @packageDocumentation
 * `@skipmesh/core/testing`: the `ConnectionManager` compliance suite, for every transport. Test code only:
 * it imports vitest. The same cases without vitest (for a browser page) are at `@skipmesh/core/testing/cases`.
 *
 * @example
 * ```ts
 * import { describeConnectionManager } from '@skipmesh/core/testing'
 *
 * describeConnectionManager('my transport', async () => makeFixture(), { timeoutMs: 60_000 })
 * ```
 */

export { budgetCases } from './budget-cases.js'
export { type ComplianceCase, ComplianceAssertionError, connectionManagerCases } from './cases.js'
export {
  DEFAULT_COMPLIANCE_OPTIONS,
  describeConnectionBudget,
  describeConnectionManager,
} from './describe.js'
export type { ComplianceOptions, ConnectionManagerFixture, ConnectionManagerSetup } from './fixture.js'

export type {
  BudgetedConnectionManager,
  ConnectionBudgetEvents,
  ConnectionBudgetMetrics,
  ConnectionBudgetOptions,
  PruneReason,
  Tag,
  TagOptions,
} from './contract.js'
export { createConnectionBudget, DEFAULT_CONNECTION_BUDGET } from './manager.js'

/**
 * Which connections the budget closes: pure functions over snapshots of the open connections, so the order
 * is testable without a transport.
 *
 * @module
 */

/** What the pruner knows of one open connection. */
export interface PruneCandidate {
  /** The sum of its peer's tag values. */
  readonly value: number
  /** Whether its peer carries a protecting tag. */
  readonly protected: boolean
  /** Sends handed to the connection that have not resolved yet. */
  readonly inFlight: number
  /** When a message was last sent or received on it, or it was last returned by `connect` (ms). */
  readonly lastActive: number
  /** When it opened (ms). */
  readonly openedAt: number
  /** Just opened: the connection whose arrival is being checked (the one its dialler is about to use). */
  readonly fresh: boolean
}

/** Whether the budget may close `c` at all. */
function closable(c: PruneCandidate): boolean {
  return !c.protected && c.inFlight === 0 && !c.fresh
}

/**
 * The order of sacrifice: lowest value first (js-libp2p's first criterion); among equals the least recently
 * active, then the oldest.
 */
export function pruneOrder(a: PruneCandidate, b: PruneCandidate): number {
  return a.value - b.value || a.lastActive - b.lastActive || a.openedAt - b.openedAt
}

/**
 * The connections to close so that `candidates.length - closed <= maxConnections`, and how many more would
 * have had to close (`shortfall`, when too few are closable). Never a protected, busy or fresh connection.
 */
export function selectOverBudget<C extends PruneCandidate>(
  candidates: readonly C[],
  maxConnections: number,
): { prune: C[]; shortfall: number } {
  const excess = candidates.length - maxConnections
  if (excess <= 0) return { prune: [], shortfall: 0 }
  const prune = candidates.filter(closable).sort(pruneOrder).slice(0, excess)
  return { prune, shortfall: excess - prune.length }
}

/** What decides idleness. */
export interface IdlePolicy {
  /** Idle longer than this closes; 0 disables. */
  readonly idleTimeoutMs: number
  /** Only connections valued below this close when idle. */
  readonly idleValueThreshold: number
}

function idleClosable(c: PruneCandidate, policy: IdlePolicy): boolean {
  return policy.idleTimeoutMs > 0 && !c.protected && c.value < policy.idleValueThreshold
}

/** The connections idle for at least `idleTimeoutMs` at `now` that may be closed for it. */
export function selectIdle<C extends PruneCandidate>(
  candidates: readonly C[],
  now: number,
  policy: IdlePolicy,
): C[] {
  return candidates.filter(
    (c) => idleClosable(c, policy) && c.inFlight === 0 && now - c.lastActive >= policy.idleTimeoutMs,
  )
}

/**
 * When the first of `candidates` may become idle enough to close (a busy one counts as active now), or
 * undefined when none can.
 */
export function nextIdleDeadline(
  candidates: readonly PruneCandidate[],
  now: number,
  policy: IdlePolicy,
): number | undefined {
  let first: number | undefined
  for (const c of candidates) {
    if (!idleClosable(c, policy)) continue
    const deadline = (c.inFlight > 0 ? now : c.lastActive) + policy.idleTimeoutMs
    if (first === undefined || deadline < first) first = deadline
  }
  return first
}

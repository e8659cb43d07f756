/**
 * Runs one of core's framework-agnostic compliance cases (`ConnectionManager` and connection budget) in this
 * page (page A). The fixture alternates where managers live: the 1st, 3rd, … are real managers in this page,
 * the 2nd, 4th, … real managers in page B reached through a {@link RemoteClient}. Every case's pair (`a`, `b`)
 * therefore spans two browser contexts, linked by real WebRTC through the real signaling server.
 *
 * @module
 */
import { type ConnectionManager, Identifier } from '@skipmesh/core'
import type { ComplianceOptions, ConnectionManagerFixture } from '@skipmesh/core/testing'
import { budgetCases, connectionManagerCases } from '@skipmesh/core/testing/cases'
import { type RemoteClient, startManager } from './remote.js'
import { toWireError, type WireError } from './wire.js'

/** Where the managers of a case live. */
export interface CaseSetup {
  url: string
  room: string
  options?: ComplianceOptions
}

export type CaseOutcome =
  | { ok: true; ms: number; where: string[] }
  /** `metrics`: every manager's counters when the case failed (in creation order), for diagnosis. */
  | { ok: false; error: WireError; where: string[]; metrics: unknown[] }

/** Core's compliance cases this harness runs: the ConnectionManager ones, then the connection-budget ones. */
const cases = [...connectionManagerCases, ...budgetCases]

/** The names of the compliance cases, in order. */
export function caseNames(): string[] {
  return cases.map((c) => c.name)
}

/** Runs the case `name` with a fixture spanning this page and the page behind `remote`. */
export async function runCase(name: string, setup: CaseSetup, remote: RemoteClient): Promise<CaseOutcome> {
  const found = cases.find((c) => c.name === name)
  if (found === undefined) throw new Error(`no compliance case named ${JSON.stringify(name)}`)
  const local: ConnectionManager[] = []
  const all: Array<ConnectionManager & { metrics?: () => unknown }> = []
  const where: string[] = []
  let created = 0
  const fixture: ConnectionManagerFixture = {
    async create(id) {
      const spec = { id: id.toHex(), url: setup.url, room: setup.room }
      const here = created++ % 2 === 0
      where.push(here ? 'A' : 'B')
      const m = here ? await startManager(spec) : await remote.create(spec)
      if (here) local.push(m)
      all.push(m)
      return m
    },
    unknownId: () => Identifier.random(),
    async teardown() {
      await Promise.all([...local.map((m) => m.stop()), remote.stopAll()])
    },
  }
  const options = { timeoutMs: 30_000, largePayloadBytes: 1024 * 1024, ...setup.options }
  const t0 = performance.now()
  try {
    await found.run(fixture, options)
    return { ok: true, ms: performance.now() - t0, where }
  } catch (err) {
    const metrics = await Promise.all(all.map(async (m) => (await m.metrics?.()) ?? null))
    return { ok: false, error: toWireError(err), where, metrics }
  } finally {
    await fixture.teardown()
  }
}

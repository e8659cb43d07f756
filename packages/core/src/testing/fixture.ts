import type { ConnectionManager } from '../connection.js'
import type { Identifier } from '../identifier.js'

/**
 * What a transport gives the {@link describeConnectionManager} compliance suite: a way to make started
 * connection managers that can reach each other, and to tear them all down.
 */
export interface ConnectionManagerFixture {
  /** A started and ready connection manager with identifier `id`, able to reach every other one made here. */
  create(id: Identifier): Promise<ConnectionManager>
  /** An identifier no connection manager of this fixture has; `connect` to it must fail with a typed error. */
  unknownId(): Identifier
  /** Stops everything `create` made. */
  teardown(): Promise<void>
}

/** Makes a fresh fixture for each test. */
export type ConnectionManagerSetup = () => Promise<ConnectionManagerFixture>

/** Tunables for slower transports. */
export interface ComplianceOptions {
  /** Per-test timeout in milliseconds. @default 30000 */
  timeoutMs?: number
  /** Largest payload exchanged by the "arrives intact" case, in bytes. @default 1048576 */
  largePayloadBytes?: number
}

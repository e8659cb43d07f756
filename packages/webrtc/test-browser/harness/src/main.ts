/**
 * The harness page of the browser suite and the benchmark. Everything is reachable from `window.harness`.
 *
 * @module
 */
import { type CaseSetup, caseNames, runCase } from './compliance.js'
import { createHosts } from './hosts.js'
import { createMesh } from './mesh.js'
import { createRaw } from './raw.js'
import { RemoteClient, RemoteHost } from './remote.js'

interface Bindings {
  /** Exposed in page A: forwards a call to page B's `harness.remoteHost.handle`. */
  __remoteCall?: (op: string, args: Record<string, unknown>) => Promise<never>
  /** Exposed in page B: delivers a batch of events to page A's `harness.remoteEvents`. */
  __remoteEvents?: (events: unknown[]) => Promise<void>
}

const bindings = window as unknown as Bindings
let host: RemoteHost | undefined
let client: RemoteClient | undefined

const remoteClient = (): RemoteClient => {
  client ??= new RemoteClient((op, args) => {
    if (bindings.__remoteCall === undefined) throw new Error('__remoteCall is not exposed in this page')
    return bindings.__remoteCall(op, args)
  })
  return client
}

const harness = {
  raw: createRaw(),
  mesh: createMesh(),
  /** Many nodes behind one `createWebRtcHost`. */
  hosts: createHosts(),
  /** Page B: answers a call forwarded from page A. */
  remoteHost(): RemoteHost {
    host ??= new RemoteHost(async (events) => {
      if (bindings.__remoteEvents === undefined) throw new Error('__remoteEvents is not exposed in this page')
      await bindings.__remoteEvents(events)
    })
    return host
  },
  /** Page A: events forwarded from page B. */
  remoteEvents(events: Parameters<RemoteClient['receive']>[0]): void {
    remoteClient().receive(events)
  },
  caseNames,
  /** Page A: runs a compliance case across this page and page B. */
  runCase: (name: string, setup: CaseSetup) => runCase(name, setup, remoteClient()),
}

declare global {
  interface Window {
    harness: typeof harness
  }
}

window.harness = harness
document.getElementById('status')!.textContent = 'ready'

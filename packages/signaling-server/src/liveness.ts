/**
 * The periodic housekeeping of one instance: each heartbeat refreshes this instance's liveness in the registry and
 * releases the registrations of dead instances (announcing `peer-left`); every few beats it also releases
 * registrations this instance holds for sockets it no longer has (a release lost to a Redis outage).
 *
 * @module
 */
import type { ServerContext } from './context.js'
import type { OrphanedRegistration } from './registry.js'

/** The heartbeat of one instance. */
export interface Liveness {
  /** One heartbeat now (also run once before listening). Never rejects: failures are logged. */
  beat(): Promise<void>
  /** Beats every `heartbeatIntervalMs` from now on. */
  start(): void
  /** Stops beating and waits for a beat in progress. */
  stop(): Promise<void>
}

/** Releases (and announces) registrations this instance holds for sockets it no longer has. */
async function reconcile(ctx: ServerContext): Promise<void> {
  const sockets = ctx.io.of('/').sockets
  const lost: OrphanedRegistration[] = []
  for (const held of await ctx.registry.held(ctx.options.instanceId)) {
    const s = sockets.get(held.socketId)
    // the socket still carries the id: its own, or an extra identity it added (a host of many nodes)
    if (
      s !== undefined &&
      s.data.room === held.room &&
      (s.data.id === held.id || s.data.identities?.[held.id] !== undefined)
    ) {
      continue
    }
    if (await ctx.registry.release(held.room, held.id, held.socketId)) lost.push(held)
  }
  if (lost.length > 0) {
    ctx.log.warn('released registrations of sockets that are gone', { count: lost.length })
    ctx.announceLeft(lost)
  }
}

/** Creates the heartbeat of the server of `ctx` (not started). */
export function createLiveness(ctx: ServerContext): Liveness {
  const { heartbeatIntervalMs, reconcileIntervalMs, instanceId } = ctx.options
  const reconcileEvery = Math.max(1, Math.round(reconcileIntervalMs / heartbeatIntervalMs))
  let beats = 0
  let beating: Promise<void> = Promise.resolve()
  let timer: NodeJS.Timeout | undefined

  const beat = async (): Promise<void> => {
    try {
      if (++beats % reconcileEvery === 0) await reconcile(ctx)
      const { released, wasDeclaredDead } = await ctx.registry.heartbeat(instanceId)
      if (released.length > 0) {
        ctx.metrics.peersReleasedByDeadInstance.inc(released.length)
        ctx.log.warn('released registrations of dead instances', { count: released.length })
        ctx.announceLeft(released)
      }
      if (wasDeclaredDead) {
        ctx.log.error(
          'this instance had been declared dead; disconnecting its sockets so they register again',
        )
        ctx.io.local.disconnectSockets(true)
      }
    } catch (err) {
      ctx.log.warn('heartbeat failed', { err: String(err) })
    }
  }

  return {
    beat,
    start: () => {
      timer = setInterval(() => {
        beating = beating.then(beat)
      }, heartbeatIntervalMs)
      timer.unref()
    },
    stop: async () => {
      clearInterval(timer)
      await beating
    },
  }
}

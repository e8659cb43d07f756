/**
 * Write coalescing: what the server writes to one WebSocket during one turn of the event loop (relayed signals,
 * acks, announcements) leaves in one `writev` instead of one system call per frame. The first frame written to a
 * socket in a turn corks its TCP socket; every corked socket is uncorked once the turn's I/O callbacks ran
 * (`setImmediate`), so a frame waits at most for the rest of the turn. Only sockets that opened as WebSocket
 * (the skipmesh client's default) are coalesced: a long-polling connection keeps Socket.IO's own writes.
 *
 * @module
 */
import type { Socket as NetSocket } from 'node:net'
import type { SignalingSocket } from './context.js'

/** The write coalescing of one server. */
export interface WriteCoalescing {
  /** Coalesces the writes of `socket` from now on (a no-op for a connection that did not open as WebSocket). */
  attach(socket: SignalingSocket): void
  /** Writes out what is held now, and holds nothing after (on close). */
  close(): void
}

/** Creates the write coalescing of one server. */
export function createWriteCoalescing(): WriteCoalescing {
  const corked = new Set<NetSocket>()
  let turn: NodeJS.Immediate | undefined
  let closed = false

  const release = (): void => {
    turn = undefined
    for (const raw of corked) raw.uncork()
    corked.clear()
  }

  const hold = (raw: NetSocket): void => {
    if (closed || corked.has(raw) || raw.destroyed) return
    raw.cork()
    corked.add(raw)
    turn ??= setImmediate(release)
  }

  return {
    attach(socket) {
      const { conn, request } = socket
      // a WebSocket-first connection writes to the socket of its upgrade request; any other keeps its writes
      if (conn.transport.name !== 'websocket' || request.headers.upgrade?.toLowerCase() !== 'websocket')
        return
      const raw = request.socket
      // 'flush': Engine.IO hands buffered packets to the WebSocket, which writes each as a frame
      conn.on('flush', () => hold(raw))
    },
    close() {
      closed = true
      if (turn !== undefined) clearImmediate(turn)
      release()
    },
  }
}

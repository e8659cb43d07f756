/**
 * Transport-neutral measurements shared by the browser harness and the Node benchmark, so that the raw
 * RTCDataChannel and the skipmesh conduit are timed by the very same code.
 *
 * A {@link Pipe} is one direction-agnostic message link. The first payload byte is an opcode:
 * `DATA` (counted by the sink), `BEGIN` (4-byte big-endian count of DATA messages that follow),
 * `DONE` (the sink got them all), `PING` / `PONG` (echoed as is, opcode swapped).
 *
 * @module
 */

export const DATA = 0
export const BEGIN = 1
export const DONE = 2
export const PING = 3
export const PONG = 4

/**
 * @typedef {object} Pipe
 * @property {(bytes: Uint8Array) => Promise<void> | void} send Sends one message (may wait for backpressure).
 * @property {(handler: (bytes: Uint8Array) => void) => void} onMessage Sets the handler of arriving messages.
 */

/** High-resolution wall-clock milliseconds, comparable across processes of one machine. */
export function epochNow() {
  return performance.timeOrigin + performance.now()
}

/**
 * Makes `pipe` the responder of the measurements: counts DATA after a BEGIN and answers DONE, echoes PING.
 * @param {Pipe} pipe
 */
export function serveSink(pipe) {
  let expected = -1
  let received = 0
  pipe.onMessage((bytes) => {
    const op = bytes[0]
    if (op === DATA) {
      received++
      if (received === expected) {
        expected = -1
        void pipe.send(Uint8Array.of(DONE))
      }
    } else if (op === BEGIN) {
      expected = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(1)
      received = 0
    } else if (op === PING) {
      const pong = bytes.slice()
      pong[0] = PONG
      void pipe.send(pong)
    }
  })
}

/**
 * The driving side: owns the pipe's message handler and hands out one awaited reply at a time.
 * @param {Pipe} pipe
 */
export function createDriver(pipe) {
  /** @type {Array<(bytes: Uint8Array) => void>} */
  const waiting = []
  pipe.onMessage((bytes) => {
    const next = waiting.shift()
    if (next !== undefined) next(bytes)
  })
  /** @returns {Promise<Uint8Array>} */
  const reply = () => new Promise((resolve) => waiting.push(resolve))

  return {
    /**
     * Sends `count` DATA messages of `size` bytes as fast as the pipe accepts them and waits for DONE.
     * @param {number} size @param {number} count
     * @returns {Promise<{ ms: number, bytes: number, messages: number }>}
     */
    async bulk(size, count) {
      const begin = new Uint8Array(5)
      begin[0] = BEGIN
      new DataView(begin.buffer).setUint32(1, count)
      const payload = new Uint8Array(size)
      for (let i = 1; i < size; i++) payload[i] = i & 0xff
      payload[0] = DATA
      const done = reply()
      const t0 = performance.now()
      await pipe.send(begin)
      for (let i = 0; i < count; i++) {
        const p = pipe.send(payload)
        if (p !== undefined) await p
      }
      await done
      return { ms: performance.now() - t0, bytes: size * count, messages: count }
    },
    /**
     * `samples` sequential round trips of a `size`-byte PING; each sample in milliseconds.
     * @param {number} size @param {number} samples
     * @returns {Promise<number[]>}
     */
    async rtt(size, samples) {
      const ping = new Uint8Array(size)
      ping[0] = PING
      const out = []
      for (let i = 0; i < samples; i++) {
        const pong = reply()
        const t0 = performance.now()
        await pipe.send(ping)
        await pong
        out.push(performance.now() - t0)
      }
      return out
    },
  }
}

/**
 * The `q`-quantile (0..1) of `samples`, nearest rank.
 * @param {number[]} samples @param {number} q
 */
export function quantile(samples, q) {
  if (samples.length === 0) return Number.NaN
  const sorted = [...samples].sort((a, b) => a - b)
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return /** @type {number} */ (sorted[rank])
}

/**
 * Wraps an `RTCDataChannel` as a {@link Pipe} with the usual backpressure: above `highWater` buffered bytes
 * the send waits for `bufferedamountlow` (threshold `lowWater`).
 * @param {RTCDataChannel} channel
 * @param {{ highWater?: number, lowWater?: number, pollMs?: number }} [options]
 * @returns {Pipe}
 */
export function dataChannelPipe(channel, options = {}) {
  const highWater = options.highWater ?? 1024 * 1024
  channel.binaryType = 'arraybuffer'
  const lowWater = options.lowWater ?? 256 * 1024
  const pollMs = options.pollMs ?? 2
  channel.bufferedAmountLowThreshold = lowWater
  return {
    send(bytes) {
      channel.send(/** @type {Uint8Array<ArrayBuffer>} */ (bytes))
      if (channel.bufferedAmount <= highWater) return undefined
      // `bufferedamountlow` where the implementation fires it; @roamhq/wrtc never does, so also poll
      return new Promise((resolve) => {
        const finish = () => {
          clearInterval(poll)
          channel.onbufferedamountlow = null
          resolve()
        }
        const poll = setInterval(() => {
          if (channel.bufferedAmount <= lowWater || channel.readyState !== 'open') finish()
        }, pollMs)
        channel.onbufferedamountlow = finish
      })
    },
    onMessage(handler) {
      channel.onmessage = (event) => {
        const data = event.data
        handler(
          data instanceof ArrayBuffer
            ? new Uint8Array(data)
            : new Uint8Array(/** @type {ArrayBufferLike} */ (data)),
        )
      }
    },
  }
}

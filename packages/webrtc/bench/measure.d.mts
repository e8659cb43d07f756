/** Types of `measure.mjs` (shared by the browser harness and the Node benchmark). */
export declare const DATA = 0
export declare const BEGIN = 1
export declare const DONE = 2
export declare const PING = 3
export declare const PONG = 4
export interface Pipe {
  send(bytes: Uint8Array): Promise<void> | void
  onMessage(handler: (bytes: Uint8Array) => void): void
}
export interface Driver {
  bulk(size: number, count: number): Promise<{ ms: number; bytes: number; messages: number }>
  rtt(size: number, samples: number): Promise<number[]>
}
export declare function epochNow(): number
export declare function serveSink(pipe: Pipe): void
export declare function createDriver(pipe: Pipe): Driver
export declare function quantile(samples: number[], q: number): number
export declare function dataChannelPipe(
  channel: RTCDataChannel,
  options?: { highWater?: number; lowWater?: number; pollMs?: number },
): Pipe

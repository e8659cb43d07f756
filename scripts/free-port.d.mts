/** A loopback port that was free a moment ago (TCP; bind port 0, read it, close). */
export function freePort(): Promise<number>

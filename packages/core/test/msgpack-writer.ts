/** A tiny hand MessagePack writer, so tests can craft exactly the malformed bytes a hostile peer would send. */

const utf8 = new TextEncoder()

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

export const mp = {
  str(s: string): Uint8Array {
    const b = utf8.encode(s)
    if (b.length < 32) return concat([Uint8Array.of(0xa0 | b.length), b])
    if (b.length < 256) return concat([Uint8Array.of(0xd9, b.length), b])
    return concat([Uint8Array.of(0xda, b.length >> 8, b.length & 0xff), b])
  },
  bin(b: Uint8Array): Uint8Array {
    if (b.length < 256) return concat([Uint8Array.of(0xc4, b.length), b])
    const head = new Uint8Array(5)
    head[0] = 0xc6
    new DataView(head.buffer).setUint32(1, b.length)
    return concat([head, b])
  },
  f64(n: number): Uint8Array {
    const out = new Uint8Array(9)
    out[0] = 0xcb
    new DataView(out.buffer).setFloat64(1, n)
    return out
  },
  uint(n: number): Uint8Array {
    if (n < 128) return Uint8Array.of(n)
    return Uint8Array.of(0xcc, n)
  },
  nil(): Uint8Array {
    return Uint8Array.of(0xc0)
  },
  array(items: Uint8Array[]): Uint8Array {
    return concat([Uint8Array.of(0x90 | items.length), ...items])
  },
  /** A map; keys are strings (encoded as str) or already-encoded bytes (to write non-string keys). */
  map(entries: Array<[string | Uint8Array, Uint8Array]>): Uint8Array {
    const parts: Uint8Array[] = [Uint8Array.of(0x80 | entries.length)]
    for (const [k, v] of entries) parts.push(typeof k === 'string' ? mp.str(k) : k, v)
    return concat(parts)
  },
  raw(...bytes: number[]): Uint8Array {
    return Uint8Array.from(bytes)
  },
  concat,
}

/** The fields of a valid envelope, each already encoded; tests replace or drop single fields. */
export function envelopeFields(): Array<[string, Uint8Array]> {
  return [
    ['c', mp.str('test')],
    ['s', mp.bin(new Uint8Array(32).fill(7))],
    ['p', mp.bin(Uint8Array.of(1, 2, 3))],
    ['m', mp.map([['k', mp.str('v')]])],
    ['t', mp.f64(1_700_000_000_000)],
  ]
}

export function envelopeWith(
  change: (fields: Array<[string | Uint8Array, Uint8Array]>) => Array<[string | Uint8Array, Uint8Array]>,
): Uint8Array {
  return mp.map(change(envelopeFields()))
}

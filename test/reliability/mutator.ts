// Seeded byte mutations for the decoder fuzzers: flips, interesting values (0, -1, int32 extremes, lengths just past
// the input), inserts, deletes, duplicated or spliced ranges, truncation. One input gets 1-4 mutations; every output is
// bounded (at most its input plus MUTATION_GROWTH_MAX bytes per mutation), so a fuzz run's memory stays flat.
import type { Random } from '../../src/testing/random.js'

const MUTATION_GROWTH_MAX = 64
const INTERESTING_8 = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xc0, 0xc1, 0xdc, 0xdd, 0xde, 0xdf, 0xc6, 0xdb]
const INTERESTING_32 = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe, 0x00010000, 0x04000000, 61, 60, 12]

export function mutate(input: Buffer, rng: Random, others: readonly Buffer[]): Buffer {
  let buf: Buffer = Buffer.from(input)
  const count = rng.int(1, 4)
  for (let m = 0; m < count; m++) buf = mutateOnce(buf, rng, others)
  return buf
}

function mutateOnce(buf: Buffer, rng: Random, others: readonly Buffer[]): Buffer {
  const at = (): number => (buf.length === 0 ? 0 : rng.int(0, buf.length - 1))
  switch (rng.int(0, 8)) {
    case 0: {
      if (buf.length > 0) buf[at()]! ^= 1 << rng.int(0, 7)
      return buf
    }
    case 1: {
      if (buf.length > 0) buf[at()] = rng.pick(INTERESTING_8)
      return buf
    }
    case 2: {
      if (buf.length < 4) return buf
      const p = rng.int(0, buf.length - 4)
      const v = rng.bool() ? rng.pick(INTERESTING_32) : (buf.length - p + rng.int(-8, 8)) >>> 0
      buf.writeUInt32BE(v >>> 0, p)
      return buf
    }
    case 3: {
      const p = rng.int(0, buf.length)
      return Buffer.concat([buf.subarray(0, p), rng.bytes(rng.int(1, MUTATION_GROWTH_MAX)), buf.subarray(p)])
    }
    case 4: {
      if (buf.length === 0) return buf
      const p = at()
      const n = rng.int(1, Math.min(MUTATION_GROWTH_MAX, buf.length - p))
      return Buffer.concat([buf.subarray(0, p), buf.subarray(p + n)])
    }
    case 5: {
      if (buf.length === 0) return buf
      const p = at()
      const n = rng.int(1, Math.min(MUTATION_GROWTH_MAX, buf.length - p))
      return Buffer.concat([buf.subarray(0, p + n), buf.subarray(p, p + n), buf.subarray(p + n)])
    }
    case 6: {
      const other = others.length > 0 ? rng.pick(others) : buf
      const p = rng.int(0, buf.length)
      const q = rng.int(0, other.length)
      return Buffer.concat([buf.subarray(0, p), other.subarray(q, q + MUTATION_GROWTH_MAX)])
    }
    case 7:
      return buf.subarray(0, rng.int(0, buf.length))
    default: {
      if (buf.length > 0) buf[at()] = rng.int(0, 255)
      return buf
    }
  }
}

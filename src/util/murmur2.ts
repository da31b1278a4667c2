// Kafka's murmur2 (seed 0x9747b28c, m 0x5bd1e995, r 24), returning a signed 32-bit int exactly as Kafka's
// `Utils.murmur2` does, so a key lands on the same partition number here as in Kafka. Vectors in the test.

const SEED = 0x9747b28c
const M = 0x5bd1e995
const R = 24

/** The hash of `data[0, length)`. */
export function murmur2(data: Uint8Array, length = data.length): number {
  let h = (SEED ^ length) | 0
  const length4 = length >>> 2
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4
    let k =
      (data[i4]! & 0xff) |
      ((data[i4 + 1]! & 0xff) << 8) |
      ((data[i4 + 2]! & 0xff) << 16) |
      ((data[i4 + 3]! & 0xff) << 24)
    k = Math.imul(k, M)
    k ^= k >>> R
    k = Math.imul(k, M)
    h = Math.imul(h, M)
    h ^= k
  }
  const tail = length & ~3
  const rest = length % 4
  if (rest === 3) h ^= (data[tail + 2]! & 0xff) << 16
  if (rest >= 2) h ^= (data[tail + 1]! & 0xff) << 8
  if (rest >= 1) {
    h ^= data[tail]! & 0xff
    h = Math.imul(h, M)
  }
  h ^= h >>> 13
  h = Math.imul(h, M)
  h ^= h >>> 15
  return h | 0
}

/** Kafka's `toPositive(murmur2(key)) % partitionCount`, over `key[0, length)`. */
export function partitionForKey(key: Uint8Array, partitionCount: number, length = key.length): number {
  return (murmur2(key, length) & 0x7fffffff) % partitionCount
}

// A small seeded PRNG for reproducible randomized tests (model-based tests print the seed on failure). Sequence:
// a 32-bit xorshift-multiply generator; not for cryptography, only for repeatable test inputs.

export class Random {
  #state: number

  constructor(readonly seed: number) {
    this.#state = seed >>> 0 || 0x9e3779b9
  }

  /** Uniform in [0, 1). */
  next(): number {
    let x = (this.#state = (this.#state + 0x6d2b79f5) >>> 0)
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }

  /** Integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1))
  }

  bool(p = 0.5): boolean {
    return this.next() < p
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!
  }

  bytes(length: number): Buffer {
    const out = Buffer.allocUnsafe(length)
    for (let i = 0; i < length; i++) out[i] = Math.floor(this.next() * 256)
    return out
  }
}

/** A fresh seed (printed by the test so a failure can be replayed with SEED=...). */
export function testSeed(): number {
  const fromEnv = Number(process.env.SEED)
  return Number.isSafeInteger(fromEnv) && fromEnv > 0 ? fromEnv : Math.floor(Math.random() * 2 ** 31)
}

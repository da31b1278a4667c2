// Sizes and seeds of the reliability runs. CI runs the short versions; `SLUICE_SOAK=1` (scripts/soak.ts) runs the long
// ones. Every randomized test takes its seed from `SEED` when given (to replay a failure) and prints it.
import { testSeed } from '../../src/testing/random.js'

export const SOAK = process.env.SLUICE_SOAK === '1'

/** `ci` trials normally, `soak` under SLUICE_SOAK=1; `SLUICE_TRIALS` overrides both (quick local runs). */
export function trials(ci: number, soak: number): number {
  const forced = Number(process.env.SLUICE_TRIALS)
  if (Number.isSafeInteger(forced) && forced > 0) return forced
  return SOAK ? soak : ci
}

/** The seed of one run, printed so a failure can be replayed with SEED=<n>. */
export function runSeed(label: string): number {
  const seed = testSeed()
  console.log(`[reliability] ${label}: seed ${seed}${SOAK ? ' (soak)' : ''}`)
  return seed
}

/** One line of figures, printed for RELIABILITY.md. */
export function reportFigures(label: string, figures: Record<string, unknown>): void {
  console.log(`[reliability] ${label}: ${JSON.stringify(figures)}`)
}

/** A test's timeout: `ciMs` normally; soak runs get hours. */
export function testTimeoutMs(ciMs: number): number {
  return SOAK ? 12 * 3600 * 1000 : ciMs
}

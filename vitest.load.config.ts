// The load tests, kept out of the main `vitest run` (vitest.config.ts excludes them) because they run for minutes
// and load the whole machine: `vitest run --config vitest.load.config.ts`. Only L1 (test/reliability/
// l1-load-churn.test.ts) for now; its length comes from SLUICE_L1_MS (default 5 min) or SLUICE_SOAK=1 (60 min).
import { defineConfig } from 'vitest/config'

export const LOAD_TESTS = ['test/reliability/l1-load-churn.test.ts']

export default defineConfig({
  test: {
    include: LOAD_TESTS,
    testTimeout: 15 * 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
})

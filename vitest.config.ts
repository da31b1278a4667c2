import { configDefaults, defineConfig } from 'vitest/config'
import { LOAD_TESTS } from './vitest.load.config.js'

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Minutes-long load tests run on their own: vitest.load.config.ts.
    exclude: [...configDefaults.exclude, ...LOAD_TESTS],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
})

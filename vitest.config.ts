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
    // Vitest's default is one worker fewer than the CPUs: one on the 2-core CI machines, so every file ran in turn.
    // Most of the suite waits on child processes, fsyncs and sockets; two workers took it from 297 s to 150 s there.
    maxWorkers: 2,
  },
})

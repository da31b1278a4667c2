// Test helpers for the storage engine under vitest: a fixture giving each test its own temp dir (removed afterwards),
// plus everything of storage-data.ts re-exported. Test-only.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { test as base } from 'vitest'

export * from './storage-data.js'

export const tmpTest = base.extend<{ tmpDir: string }>({
  // eslint-disable-next-line no-empty-pattern
  tmpDir: async ({}, use) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-storage-'))
    await use(dir)
    fs.rmSync(dir, { recursive: true, force: true })
  },
})

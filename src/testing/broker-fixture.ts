// Test helpers for the broker: a temp data dir removed afterwards, a broker opened on it (the real storage engine
// when `SLUICE_TEST_STORAGE` is not 'memory', the in-memory double otherwise), and small batch builders. Test-only.
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { test as base } from 'vitest'
import { openBroker, type Broker, type OpenBrokerOptions, type OpenStorage } from '../broker/broker.js'
import type { BrokerConfigInput } from '../broker/broker-config.js'
import { silentLogger } from '../broker/logger.js'
import { openStorage } from '../storage/storage.js'
import { encodeRecordBatch, type EncodeBatchOptions } from '../storage/record-batch.js'
import { forgetMemoryDataDir, openMemoryStorage } from './memory-storage.js'

export async function testOpenStorage(): Promise<OpenStorage> {
  if (process.env.SLUICE_TEST_STORAGE === 'memory') return openMemoryStorage
  return openStorage
}

export interface BrokerFixture {
  dataDir: string
  /** Opens a broker on the fixture's data dir; every broker opened is closed after the test. */
  open(config?: BrokerConfigInput, options?: OpenBrokerOptions): Promise<Broker>
}

export const brokerTest = base.extend<{ fx: BrokerFixture }>({
  // eslint-disable-next-line no-empty-pattern
  fx: async ({}, use) => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'sluice-broker-'))
    const opened: Broker[] = []
    const openStorage = await testOpenStorage()
    await use({
      dataDir,
      open: async (config = {}, options = {}) => {
        const broker = await openBroker({ dataDir, ...config }, { logger: silentLogger, openStorage, ...options })
        opened.push(broker)
        return broker
      },
    })
    for (const broker of opened) await broker.close()
    forgetMemoryDataDir(dataDir)
    await rm(dataDir, { recursive: true, force: true })
  },
})

/** One batch of `count` records with values `${prefix}-${i}`, keys null. */
export function makeBatch(
  count: number,
  prefix = 'v',
  options: EncodeBatchOptions & { timestamp?: number } = {},
): Buffer {
  const timestamp = options.timestamp ?? Date.now()
  const records = Array.from({ length: count }, (_, i) => ({
    key: null,
    value: Buffer.from(`${prefix}-${i}`),
    timestamp,
  }))
  return encodeRecordBatch(records, options)
}

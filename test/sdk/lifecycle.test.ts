// Lifecycle, once per transport: offsets continue after close and reopen on the same data dir; Sluice.close flushes
// pending sends and commits consumer positions; a broker started with autoCreateTopics creates topics on send.
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { expect, test } from 'vitest'
import { Sluice } from '../../src/sluice.js'
import { describeEachTransport } from '../../src/testing/sdk-harness.js'
import type { Message } from '../../src/client/consumer.js'

describeEachTransport('lifecycle', (getSluice, env) => {
  test('reopen continuity: after close and open on the same dir, offsets continue and old records remain', async () => {
    let sl = getSluice()
    await sl.admin().createTopic('life', { partitions: 2 })
    const first = (
      await sl.producer().sendBatch(
        'life',
        Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: `a${i}` })),
      )
    ).toArray()
    sl = await env().reopen()
    expect(await sl.admin().listTopics()).toEqual(['life'])
    const second = (
      await sl.producer().sendBatch(
        'life',
        Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: `b${i}` })),
      )
    ).toArray()
    for (let i = 0; i < 10; i++) {
      expect(second[i]!.partition).toBe(first[i]!.partition)
      const lastBefore = Math.max(...first.filter((m) => m.partition === second[i]!.partition).map((m) => m.offset))
      expect(second[i]!.offset).toBeGreaterThan(lastBefore)
    }
    const all: Message[] = []
    for await (const m of sl.replay({ topic: 'life', valueCodec: 'string' })) all.push(m)
    expect(all.map((m) => m.value).sort()).toEqual(
      [...first.map((_, i) => `a${i}`), ...second.map((_, i) => `b${i}`)].sort(),
    )
  })

  test('Sluice.close flushes lingering sends and commits consumer positions before closing the broker', async () => {
    let sl = getSluice()
    await sl.admin().createTopic('flush', { partitions: 1 })
    const producer = sl.producer({ lingerMs: 60_000 })
    const pending = [producer.send('flush', { value: '1' }), producer.send('flush', { value: '2' })]
    const consumer = sl.consumer({ groupId: 'gl', autoOffsetReset: 'earliest' })
    await consumer.assign([{ topic: 'flush', partition: 0 }])
    await sl.close()
    expect((await Promise.all(pending)).map((m) => m.offset)).toEqual([0, 1])
    sl = await env().reopen()
    const again = sl.consumer({ groupId: 'gl', autoOffsetReset: 'earliest' })
    await again.assign([{ topic: 'flush', partition: 0 }])
    const got: Message[] = []
    for await (const m of again) {
      got.push(m)
      if (m.offset === 1) break
    }
    expect(got.map((m) => m.offset)).toEqual([0, 1])
  })

  test('with autoCreateTopics a send to a new topic creates it with the broker default partition count', async () => {
    const sl = await env().reopen({ autoCreateTopics: true, partitions: 3 })
    const meta = await sl.producer().send('fresh', { key: 'abc', value: 'x' })
    expect((await sl.admin().describeTopic('fresh')).partitions).toHaveLength(3)
    expect(meta.partition).toBe((479470107 & 0x7fffffff) % 3)
  })
})

test('Sluice.open with only a dataDir wires the default storage and group coordinator', async () => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'sluice-sdk-defaults-'))
  try {
    const sl = await Sluice.open({ dataDir })
    await sl.admin().createTopic('d', { partitions: 1 })
    await sl.producer().send('d', { value: 'x' })
    const consumer = sl.consumer({ groupId: 'dg', autoOffsetReset: 'earliest' })
    await consumer.subscribe(['d'])
    const got: Message[] = []
    await consumer.run({ eachMessage: ({ message }) => void got.push(message) })
    for (let i = 0; i < 500 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 10))
    expect(got.map((m) => String(m.value))).toEqual(['x'])
    await sl.close()
  } finally {
    await rm(dataDir, { recursive: true, force: true })
  }
})

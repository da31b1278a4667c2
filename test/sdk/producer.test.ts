// Producer behaviour against the real broker, once per transport (embedded and tcp): ordering, partition placement,
// metadata, acks, compression, flush/close and buffer bounds.
import { inspect } from 'node:util'
import { expect, test, vi } from 'vitest'
import { describeEachTransport, transportWith } from '../../src/testing/sdk-harness.js'
import type { Message } from '../../src/client/consumer.js'
import { SendBatchResult } from '../../src/client/producer.js'
import { partitionForKey } from '../../src/util/murmur2.js'
import { InvalidTimestampError, PartitionOfflineError } from '../../src/errors.js'
import type { Transport } from '../../src/client/transport.js'
import { Sluice } from '../../src/sluice.js'

async function readAll(
  sl: Sluice,
  topic: string,
  options: { valueCodec?: 'string' | 'json' | 'msgpack' } = {},
): Promise<Message[]> {
  const out: Message[] = []
  for await (const m of sl.replay({ topic, ...options })) out.push(m)
  return out
}

/** DESIGN.md §6 vectors: murmur2 of the key as Kafka computes it (signed 32-bit). */
const MURMUR2_VECTORS: Array<[string, number]> = [
  ['21', -973932308],
  ['foobar', -790332482],
  ['a-little-bit-long-string', -985981536],
  ['abc', 479470107],
]

describeEachTransport('producer', (getSluice) => {
  test('records of one key keep send order under many concurrent send() calls', async () => {
    const sl = getSluice()
    await sl.admin().createTopic('orders', { partitions: 3 })
    const producer = sl.producer({ lingerMs: 1, batchBytes: 4096 })
    const keys = ['a', 'b', 'c', 'd', 'e']
    const sends = []
    for (let i = 0; i < 2000; i++) sends.push(producer.send('orders', { key: keys[i % keys.length], value: String(i) }))
    const metas = await Promise.all(sends)
    const records = await readAll(sl, 'orders', { valueCodec: 'string' })
    expect(records).toHaveLength(2000)
    for (const key of keys) {
      const ofKey = records.filter((r) => (r.key as Buffer).toString() === key)
      expect(new Set(ofKey.map((r) => r.partition)).size).toBe(1)
      const values = ofKey.sort((x, y) => x.offset - y.offset).map((r) => Number(r.value))
      expect(values).toEqual([...values].sort((x, y) => x - y))
      expect(values).toHaveLength(400)
    }
    // metadata offsets of one key increase in send order too
    for (const key of keys) {
      const offsets = metas.filter((_, i) => keys[i % keys.length] === key).map((m) => m.offset)
      for (let i = 1; i < offsets.length; i++) expect(offsets[i]).toBeGreaterThan(offsets[i - 1]!)
    }
  })

  test('a key lands on (murmur2(key) & 0x7fffffff) % partitions, matching the Kafka vectors', async () => {
    const sl = getSluice()
    for (const partitions of [1, 3, 7, 16]) {
      const topic = `placement-${partitions}`
      await sl.admin().createTopic(topic, { partitions })
      const producer = sl.producer()
      for (const [key, hash] of MURMUR2_VECTORS) {
        const meta = await producer.send(topic, { key, value: 'x' })
        expect(meta.partition).toBe((hash & 0x7fffffff) % partitions)
      }
      await producer.close()
    }
  })

  test('send metadata equals what replay returns: offset, timestamp, key, value, headers', async () => {
    const sl = getSluice()
    await sl.admin().createTopic('meta', { partitions: 4 })
    const producer = sl.producer()
    const sent = [
      {
        key: 'user-1',
        value: 'one',
        headers: { 'trace-id': 'abc', bin: Buffer.from([1, 2, 3]) },
        timestamp: 1_700_000_000_000,
      },
      { key: Buffer.from([0, 255]), value: Buffer.alloc(300, 7), timestamp: new Date(1_700_000_000_500) },
      { key: null, value: null, headers: { empty: null } },
      { key: 'user-1', value: '', partition: 3 },
    ]
    const metas = []
    for (const m of sent) metas.push(await producer.send('meta', m))
    const records = await readAll(sl, 'meta')
    expect(records).toHaveLength(sent.length)
    for (let i = 0; i < sent.length; i++) {
      const meta = metas[i]!
      const r = records.find((x) => x.partition === meta.partition && x.offset === meta.offset)!
      expect(r).toBeDefined()
      expect(r.timestamp).toBe(meta.timestamp)
      const s = sent[i]!
      const key = s.key === null ? null : Buffer.isBuffer(s.key) ? s.key : Buffer.from(s.key)
      expect(r.key).toEqual(key)
      expect(r.value).toEqual(s.value === null ? null : Buffer.isBuffer(s.value) ? s.value : Buffer.from(s.value))
      const headers = Object.fromEntries(
        Object.entries(s.headers ?? {}).map(([k, v]) => [
          k,
          v === null ? null : Buffer.isBuffer(v) ? v : Buffer.from(v),
        ]),
      )
      expect(r.headers).toEqual(headers)
    }
    expect(metas[0]!.timestamp).toBe(1_700_000_000_000)
    expect(metas[1]!.timestamp).toBe(1_700_000_000_500)
    expect(metas[3]!.partition).toBe(3)
  })

  test('sendBatch resolves one metadata per message, in message order, with consecutive offsets per partition', async () => {
    const sl = getSluice()
    await sl.admin().createTopic('batch', { partitions: 2 })
    const producer = sl.producer({ lingerMs: 0 })
    const messages = Array.from({ length: 500 }, (_, i) => ({
      key: `k${i % 7}`,
      value: `v${i}`,
      timestamp: 1_700_000_000_000 + i,
    }))
    const result = await producer.sendBatch('batch', messages)
    expect(result).toBeInstanceOf(SendBatchResult)
    expect(result.length).toBe(500)
    expect(result.topic).toBe('batch')
    const metas = result.toArray()
    expect(metas).toHaveLength(500)
    expect([...result]).toEqual(metas)
    expect(JSON.parse(JSON.stringify(result))).toEqual(metas)
    expect(result.at(-1)).toEqual(metas[499])
    expect(result.at(500)).toBeUndefined()
    // Index conversion as Array#at: fractions truncate, NaN is 0, out of range on either side is undefined.
    expect([result.at(1.7), result.at(NaN), result.at(-500), result.at(-501), result.at(Infinity)]).toEqual([
      metas[1],
      metas[0],
      metas[0],
      undefined,
      undefined,
    ])
    expect(() => result.offsetOf(500)).toThrow(RangeError)
    expect(() => result.partitionOf(-1)).toThrow(/message index -1 is outside this sendBatch call of 500 messages/)
    expect(inspect(result)).toMatch(/^SendBatchResult\(500\) \[[\s\S]*\] \.\.\. 490 more$/)
    const records = await readAll(sl, 'batch', { valueCodec: 'string' })
    for (let i = 0; i < messages.length; i++) {
      expect(metas[i]).toEqual({
        topic: 'batch',
        partition: result.partitionOf(i),
        offset: result.offsetOf(i),
        timestamp: result.timestampOf(i),
      })
      expect(result.timestampOf(i)).toBe(1_700_000_000_000 + i)
      const r = records.find((x) => x.partition === result.partitionOf(i) && x.offset === result.offsetOf(i))
      expect(r?.value).toBe(`v${i}`)
    }
    for (const p of [0, 1]) {
      const offsets = metas.filter((m) => m.partition === p).map((m) => m.offset)
      expect(offsets.length).toBeGreaterThan(0)
      expect(offsets).toEqual(offsets.map((_, i) => offsets[0]! + i))
    }
    const none = await producer.sendBatch('batch', [])
    expect([none.length, none.toArray(), none.at(0)]).toEqual([0, [], undefined])
  })

  test.each([['all'], [1], [0]] as const)('acks %s: records land; acks 0 resolves offset -1', async (acks) => {
    const sl = getSluice()
    await sl.admin().createTopic('acks', { partitions: 1 })
    const producer = sl.producer({ acks })
    const metas = await Promise.all([0, 1, 2].map((i) => producer.send('acks', { value: `a${i}` })))
    await producer.flush()
    if (acks === 0) expect(metas.map((m) => m.offset)).toEqual([-1, -1, -1])
    else expect(metas.map((m) => m.offset)).toEqual([0, 1, 2])
    const records = await readAll(sl, 'acks', { valueCodec: 'string' })
    expect(records.map((r) => r.value)).toEqual(['a0', 'a1', 'a2'])
  })

  test('gzip batches round-trip and are smaller on disk than the plain records', async () => {
    const sl = getSluice()
    await sl.admin().createTopic('gz', { partitions: 1 })
    const producer = sl.producer({ compression: 'gzip', lingerMs: 20 })
    const value = 'abcdefgh'.repeat(128)
    await producer.sendBatch(
      'gz',
      Array.from({ length: 200 }, (_, i) => ({ key: `k${i}`, value, headers: { i: String(i) } })),
    )
    const records = await readAll(sl, 'gz', { valueCodec: 'string' })
    expect(records).toHaveLength(200)
    expect(records.every((r) => r.value === value)).toBe(true)
    expect(records.map((r) => r.headers.i!.toString())).toEqual(records.map((_, i) => String(i)))
    const described = await sl.admin().describeTopic('gz')
    expect(described.partitions[0]!.sizeBytes).toBeLessThan(200 * value.length)
  })

  test('a record stamped further past the clock than timestampAfterMaxMs is refused; -1 lifts the bound', async () => {
    const sl = getSluice()
    const admin = sl.admin()
    await admin.createTopic('stamps', { partitions: 1 })
    expect((await admin.describeTopic('stamps')).config.timestampAfterMaxMs).toBe(3_600_000)
    const producer = sl.producer({ lingerMs: 0, retries: 0 })
    const soon = await producer.send('stamps', { value: 'soon', timestamp: Date.now() + 10 * 60_000 })
    expect(soon.offset).toBe(0)
    // Before, a year-2100 record was kept, and no segment from it on could ever expire by time.
    const far = Date.UTC(2100, 0, 1)
    const err = await producer.send('stamps', { value: 'far', timestamp: far }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(InvalidTimestampError)
    expect((err as Error).message).toMatch(
      /stamps\/0 has a record timestamp 4102444800000 \(2100-01-01T00:00:00.000Z\)/,
    )
    // The whole batch is refused, not the far record alone.
    const mixed = await producer
      .sendBatch('stamps', [{ value: 'now' }, { value: 'far', timestamp: far }])
      .catch((e: unknown) => e)
    expect(mixed).toBeInstanceOf(InvalidTimestampError)
    expect((await admin.describeTopic('stamps')).partitions[0]!.logEndOffset).toBe(1)
    await admin.alterTopicConfig('stamps', { timestampAfterMaxMs: -1 })
    expect((await producer.send('stamps', { value: 'far', timestamp: far })).offset).toBe(1)
    await expect(admin.alterTopicConfig('stamps', { timestampAfterMaxMs: -2 })).rejects.toThrow(
      /timestampAfterMaxMs must be -1 \(no bound\) or an integer >= 0/,
    )
  })

  test('records without a key avoid a partition a send found offline', async () => {
    const base = getSluice()
    await base.admin().createTopic('patchy', { partitions: 3 })
    const inner = base.transport as Transport
    const sl = new Sluice(
      transportWith(inner, {
        produce: (req) =>
          req.partition === 0
            ? Promise.reject(new PartitionOfflineError('injected: log topics/patchy/0 is offline'))
            : inner.produce(req),
      }),
    )
    const producer = sl.producer({ lingerMs: 0, retries: 0 })
    let failed = 0
    for (let i = 0; i < 30; i++) await producer.send('patchy', { value: `v${i}` }).catch(() => failed++)
    // Before, each new batch could pick the offline partition again: about a third failed.
    expect(failed).toBeLessThanOrEqual(1)
    await producer.close()
  })

  test('a non-idempotent producer sends and orders records too', async () => {
    const sl = getSluice()
    await sl.admin().createTopic('plain', { partitions: 2 })
    const producer = sl.producer({ idempotent: false, lingerMs: 0 })
    await Promise.all(Array.from({ length: 300 }, (_, i) => producer.send('plain', { key: 'same', value: String(i) })))
    const values = (await readAll(sl, 'plain', { valueCodec: 'string' })).map((r) => Number(r.value))
    expect(values).toEqual(Array.from({ length: 300 }, (_, i) => i))
  })

  test('flush sends lingering records at once; close flushes pending sends', async () => {
    const sl = getSluice()
    await sl.admin().createTopic('linger', { partitions: 1 })
    const producer = sl.producer({ lingerMs: 60_000 })
    const pending = producer.send('linger', { value: 'x' })
    await producer.flush()
    expect((await pending).offset).toBe(0)
    const late = [producer.send('linger', { value: 'y' }), producer.send('linger', { value: 'z' })]
    await producer.close()
    expect((await Promise.all(late)).map((m) => m.offset)).toEqual([1, 2])
  })

  test('a sendBatch of at least batchBytes does not linger for its last batch; a smaller one does until flush', async () => {
    const sl = getSluice()
    await sl.admin().createTopic('no-linger', { partitions: 2 })
    const producer = sl.producer({ lingerMs: 60_000, batchBytes: 16 * 1024 })
    const value = Buffer.alloc(1000, 7)
    // ~40 KiB over two partitions: full batches and a partial last one on each, sent without waiting 60 s
    const large = await producer.sendBatch(
      'no-linger',
      Array.from({ length: 40 }, (_, i) => ({ key: `k${i}`, value })),
    )
    expect(large.length).toBe(40)
    expect(new Set([...large].map((m) => m.partition))).toEqual(new Set([0, 1]))
    let small = false
    const pending = producer.sendBatch('no-linger', [{ value }, { value }]).then(() => (small = true))
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(small).toBe(false) // still lingering: two records fill no batch
    await producer.flush()
    await pending
    expect(small).toBe(true)
    await producer.close()
  })

  test('a keyed sendBatch over 6 partitions sizes each batch for its share, not for the whole call', async () => {
    const sl = getSluice()
    await sl.admin().createTopic('share6', { partitions: 6 })
    const producer = sl.producer({ lingerMs: 0 })
    const value = Buffer.alloc(100, 1)
    const messages = Array.from({ length: 1600 }, (_, i) => ({ key: `key-${i}`, value }))
    await producer.sendBatch('share6', messages) // metadata known from here on: the next call encodes at once
    const callBytes = messages.length * (100 + 12)
    const allocUnsafe = vi.spyOn(Buffer, 'allocUnsafe')
    let allocated = 0
    let pending: Promise<unknown>
    try {
      pending = producer.sendBatch('share6', messages)
      for (const [size] of allocUnsafe.mock.calls) if (size >= 4096) allocated += size
    } finally {
      allocUnsafe.mockRestore()
    }
    await pending
    // Six batches sized for the whole call would take about six times its bytes.
    expect(allocated).toBeGreaterThan(callBytes)
    expect(allocated).toBeLessThan(2 * callBytes)
    const got = await readAll(sl, 'share6')
    expect(got).toHaveLength(3200)
    await producer.close()
  })

  test("a keyed sendBatch over several partitions lands each record on its key's partition, in call order per key, with its own metadata", async () => {
    const sl = getSluice()
    await sl.admin().createTopic('grouped', { partitions: 6 })
    // Small batches: each partition's share of a call spans several of them.
    const producer = sl.producer({ lingerMs: 0, batchBytes: 16 * 1024 })
    await producer.send('grouped', { key: 'k3', value: 'before' }) // metadata known: the calls below encode at once
    const keys = Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? `k${i}` : Buffer.from(`k${i}`)))
    const call = (tag: string) =>
      Array.from({ length: 2000 }, (_, i) => ({ key: keys[(i * 7) % keys.length]!, value: `${tag}-${i}` }))
    // one call grouped by partition, one with a null key that goes record by record, and a send in between
    const [grouped, between, plain] = await Promise.all([
      producer.sendBatch('grouped', call('g')),
      producer.send('grouped', { key: 'k3', value: 'between' }),
      producer.sendBatch('grouped', [...call('p'), { key: null, value: 'p-null' }]),
    ])
    const records = await readAll(sl, 'grouped', { valueCodec: 'string' })
    const at = new Map(records.map((r) => [`${r.partition}/${r.offset}`, r]))
    for (const [tag, result] of [
      ['g', grouped],
      ['p', plain],
    ] as const) {
      const messages = call(tag)
      for (let i = 0; i < messages.length; i++) {
        const key = messages[i]!.key
        expect(result.partitionOf(i)).toBe(partitionForKey(Buffer.from(key), 6))
        expect(at.get(`${result.partitionOf(i)}/${result.offsetOf(i)}`)?.value).toBe(`${tag}-${i}`)
      }
    }
    // per key: the order of the calls, and within each call the call's order
    for (const key of ['k3', 'k0', 'k11']) {
      const values = records.filter((r) => String(r.key) === key).map((r) => String(r.value))
      const expected = [
        ...(key === 'k3' ? ['before'] : []),
        ...call('g')
          .filter((m) => String(m.key) === key)
          .map((m) => m.value),
        ...(key === 'k3' ? ['between'] : []),
        ...call('p')
          .filter((m) => String(m.key) === key)
          .map((m) => m.value),
      ]
      expect(values).toEqual(expected)
    }
    expect(between.partition).toBe(partitionForKey(Buffer.from('k3'), 6))
    expect(records).toHaveLength(2 + 4001)
    await producer.close()
  })

  test('sends beyond bufferBytesMax wait for space and all land, in order', async () => {
    const sl = getSluice()
    await sl.admin().createTopic('buffer', { partitions: 1 })
    const producer = sl.producer({ bufferBytesMax: 1024 * 1024, batchBytes: 64 * 1024 })
    const value = Buffer.alloc(10_000, 1)
    const sends = Array.from({ length: 400 }, (_, i) => producer.send('buffer', { key: String(i), value }))
    const metas = await Promise.all(sends)
    expect(metas.map((m) => m.offset)).toEqual(metas.map((_, i) => i))
    const big = await producer.sendBatch(
      'buffer',
      Array.from({ length: 300 }, () => ({ value })),
    )
    expect([...big].map((m) => m.offset)).toEqual(Array.from({ length: 300 }, (_, i) => 400 + i))
  })

  test('null keys stay on one partition for a whole batch', async () => {
    const sl = getSluice()
    await sl.admin().createTopic('sticky', { partitions: 4 })
    const producer = sl.producer({ lingerMs: 50 })
    const metas = await Promise.all(Array.from({ length: 50 }, (_, i) => producer.send('sticky', { value: String(i) })))
    expect(new Set(metas.map((m) => m.partition)).size).toBe(1)
  })

  test('a burst of sends made before the topic metadata is known waits in order and all land', async () => {
    const sl = getSluice()
    await sl.admin().createTopic('burst', { partitions: 2 })
    const producer = sl.producer()
    const sends = Array.from({ length: 20_000 }, (_, i) =>
      producer.send('burst', { key: i % 2 ? 'odd' : 'even', value: String(i) }),
    )
    const metas = await Promise.all(sends)
    for (const key of ['odd', 'even']) {
      const offsets = metas.filter((_, i) => (i % 2 ? 'odd' : 'even') === key).map((m) => m.offset)
      for (let i = 1; i < offsets.length; i++) expect(offsets[i]).toBeGreaterThan(offsets[i - 1]!)
    }
    const described = await sl.admin().describeTopic('burst')
    expect(described.partitions.reduce((n, p) => n + p.logEndOffset, 0)).toBe(20_000)
  })

  test('reused batch buffers never alter acknowledged records: full batches over repeated calls read back exactly', async () => {
    const sl = getSluice()
    await sl.admin().createTopic('reuse', { partitions: 2 })
    // 16 KiB batches of ~1 KiB records: every call fills many batches, whose buffers go back to the pool and are
    // written over by the next ones while earlier batches' bytes must stay as acknowledged.
    const producer = sl.producer({ batchBytes: 16 * 1024, lingerMs: 0 })
    const sent = new Map<string, string>() // "partition/offset" -> value (hex)
    let seed = 7
    const value = (): Buffer => {
      const b = Buffer.allocUnsafe(900 + (seed % 200))
      for (let i = 0; i < b.length; i++) b[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24
      return b
    }
    for (let round = 0; round < 4; round++) {
      const messages = Array.from({ length: 300 }, (_, i) => ({ key: `k${i % 7}`, value: value() }))
      const single = value()
      const [metas, one] = await Promise.all([
        producer.sendBatch('reuse', messages),
        producer.send('reuse', { key: 'single', value: single }),
      ])
      metas.toArray().forEach((m, i) => sent.set(`${m.partition}/${m.offset}`, messages[i]!.value.toString('hex')))
      sent.set(`${one.partition}/${one.offset}`, single.toString('hex'))
    }
    const read = new Map<string, string>()
    for await (const m of sl.replay({ topic: 'reuse' }))
      read.set(`${m.partition}/${m.offset}`, (m.value as Buffer).toString('hex'))
    expect(read.size).toBe(4 * 301)
    expect(read).toEqual(sent)
  })

  test('a sendBatch larger than one step (here batchBytes x maxInFlight) keeps its order against later sends', async () => {
    const sl = getSluice()
    await sl.admin().createTopic('steps', { partitions: 1 })
    // Steps of 2 x 4 KiB: a 2,000-record call is appended over many turns of the event loop; the send() and the
    // second call made meanwhile must still land after it, and flush() must wait for all of it.
    const producer = sl.producer({ batchBytes: 4096, maxInFlight: 2, lingerMs: 0 })
    const first = Array.from({ length: 2000 }, (_, i) => ({ value: `a${i}` }))
    const second = Array.from({ length: 500 }, (_, i) => ({ value: `c${i}` }))
    await producer.send('steps', { value: 'w' }) // the topic's metadata is known: the calls below take the fast path
    const p1 = producer.sendBatch('steps', first)
    const p2 = producer.send('steps', { value: 'b' })
    const p3 = producer.sendBatch('steps', second)
    let settled = 0
    for (const p of [p1, p2, p3]) void p.then(() => settled++)
    await producer.flush()
    expect(settled).toBe(3) // flush waited for every record of the stepped calls
    const [m1, m2, m3] = await Promise.all([p1, p2, p3])
    expect([...m1].map((m) => m.offset)).toEqual(Array.from({ length: 2000 }, (_, i) => 1 + i))
    expect(m2.offset).toBe(2001)
    expect([...m3].map((m) => m.offset)).toEqual(Array.from({ length: 500 }, (_, i) => 2002 + i))
    const values: string[] = []
    for await (const m of sl.replay({ topic: 'steps', valueCodec: 'string' })) values.push(m.value as string)
    expect(values).toEqual(['w', ...first.map((m) => m.value), 'b', ...second.map((m) => m.value)])
  })
})

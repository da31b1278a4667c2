// Bounded replay without a group, once per transport: bounds by Date, offset, 'earliest'/'latest'; the log end is
// fixed when replay() is called; durable visibility reads fsynced records only; partitions are read one after the
// other; codecs decode what producers encoded; records deleted under a running replay fail it instead of a silent gap.
import { expect, test } from 'vitest'
import { describeEachTransport } from '../../src/testing/sdk-harness.js'
import type { Message } from '../../src/client/consumer.js'
import type { Codec } from '../../src/client/codecs.js'
import type { Replay } from '../../src/client/replay.js'
import { OffsetOutOfRangeError, RecordDecodeError } from '../../src/errors.js'

async function collect(replay: Replay): Promise<Message[]> {
  const out: Message[] = []
  for await (const m of replay) out.push(m)
  return out
}

const BASE = 1_700_000_000_000

describeEachTransport('replay', (getSluice) => {
  test('from a Date starts at the first offset whose timestamp is >= T', async () => {
    const sl = getSluice()
    await sl.admin().createTopic('r1', { partitions: 1 })
    const producer = sl.producer()
    // timestamps are not monotonic in offset order: the first offset with ts >= T is what counts
    const stamps = [0, 1000, 2000, 500, 3000, 4000]
    for (const [i, t] of stamps.entries()) await producer.send('r1', { value: String(i), timestamp: BASE + t })
    const got = await collect(sl.replay({ topic: 'r1', from: new Date(BASE + 1500), valueCodec: 'string' }))
    expect(got[0]!.offset).toBe(2)
    expect(got.map((m) => m.value)).toEqual(['2', '3', '4', '5'])
    const none = await collect(sl.replay({ topic: 'r1', from: new Date(BASE + 10_000) }))
    expect(none).toEqual([])
  })

  test("to 'latest' is the log end when replay() is called: later records are not read", async () => {
    const sl = getSluice()
    await sl.admin().createTopic('r2', { partitions: 2 })
    const producer = sl.producer()
    await producer.sendBatch(
      'r2',
      Array.from({ length: 10 }, (_, i) => ({ partition: i % 2, value: String(i) })),
    )
    const replay = sl.replay({ topic: 'r2', from: 'earliest', to: 'latest' })
    // let the bounds resolve, then append more before iterating
    await sl.admin().describeTopic('r2')
    await new Promise((r) => setTimeout(r, 20))
    await producer.sendBatch(
      'r2',
      Array.from({ length: 10 }, (_, i) => ({ partition: i % 2, value: `late-${i}` })),
    )
    const got = await collect(replay)
    expect(got).toHaveLength(10)
    expect(got.every((m) => !String(m.value).startsWith('late'))).toBe(true)
  })

  test("visibility 'durable' reads what was written before the call once fsynced, also on a flush 'os' topic", async () => {
    const sl = getSluice()
    // Nothing fsyncs a flush 'os' topic on its own: its durable end moves only when the replay asks for it.
    await sl.admin().createTopic('r-os', { partitions: 2, flush: 'os' })
    await sl.producer({ acks: 1 }).sendBatch(
      'r-os',
      Array.from({ length: 8 }, (_, i) => ({ partition: i % 2, value: String(i) })),
    )
    const got = await collect(sl.replay({ topic: 'r-os', visibility: 'durable', valueCodec: 'string' }))
    expect(got.map((m) => [m.partition, m.value])).toEqual([
      [0, '0'],
      [0, '2'],
      [0, '4'],
      [0, '6'],
      [1, '1'],
      [1, '3'],
      [1, '5'],
      [1, '7'],
    ])
    const capped = await collect(sl.replay({ topic: 'r-os', to: 1_000, partitions: [1], visibility: 'durable' }))
    expect(capped.map((m) => m.offset)).toEqual([0, 1, 2, 3])
  })

  test('offset bounds are [from, to); partitions are read one after the other in partition order', async () => {
    const sl = getSluice()
    await sl.admin().createTopic('r3', { partitions: 3 })
    const producer = sl.producer()
    await producer.sendBatch(
      'r3',
      Array.from({ length: 30 }, (_, i) => ({ partition: i % 3, value: String(i) })),
    )
    const got = await collect(sl.replay({ topic: 'r3', from: 2, to: 5, partitions: [2, 0] }))
    expect(got.map((m) => [m.partition, m.offset])).toEqual([
      [0, 2],
      [0, 3],
      [0, 4],
      [2, 2],
      [2, 3],
      [2, 4],
    ])
    const toDate = await collect(sl.replay({ topic: 'r3', to: new Date(0) }))
    expect(toDate).toEqual([])
    const empty = await collect(sl.replay({ topic: 'r3', from: 'latest' }))
    expect(empty).toEqual([])
  })

  test('codecs: json, msgpack, string and a custom codec round-trip through producer and replay', async () => {
    const sl = getSluice()
    await sl.admin().createTopic('codec', { partitions: 1 })
    const doc = { id: 42, name: 'ö-ü', tags: ['a', 'b'], nested: { ok: true, n: null } }
    await sl.producer({ valueCodec: 'json' }).send('codec', { key: 'j', value: doc })
    await sl.producer({ valueCodec: 'msgpack' }).send('codec', { key: 'm', value: doc })
    await sl.producer({ valueCodec: 'string', keyCodec: 'string' }).send('codec', { key: 's', value: 'plain ✓' })
    const upper: Codec = {
      encode: (v) => Buffer.from(String(v).toUpperCase()),
      decode: (b) => `decoded:${b.toString()}`,
    }
    await sl.producer({ valueCodec: upper }).send('codec', { key: 'c', value: 'shout' })
    const [j] = await collect(sl.replay({ topic: 'codec', from: 0, to: 1, valueCodec: 'json' }))
    const [m] = await collect(sl.replay({ topic: 'codec', from: 1, to: 2, valueCodec: 'msgpack' }))
    const [s] = await collect(sl.replay({ topic: 'codec', from: 2, to: 3, valueCodec: 'string', keyCodec: 'string' }))
    const [c] = await collect(sl.replay({ topic: 'codec', from: 3, to: 4, valueCodec: upper }))
    expect(j!.value).toEqual(doc)
    expect(m!.value).toEqual(doc)
    expect(s!.value).toBe('plain ✓')
    expect(s!.key).toBe('s')
    expect(c!.value).toBe('decoded:SHOUT')
    const raw = await collect(sl.replay({ topic: 'codec', from: 0, to: 1 }))
    expect(raw[0]!.value).toEqual(Buffer.from(JSON.stringify(doc)))
  })

  test('records deleted while a replay reads a partition fail it with OffsetOutOfRangeError, not a silent gap', async () => {
    const sl = getSluice()
    const admin = sl.admin()
    await admin.createTopic('rgap', { partitions: 1, segmentBytes: 1024 })
    const producer = sl.producer({ lingerMs: 0 })
    for (let i = 0; i < 100; i += 5)
      await producer.sendBatch(
        'rgap',
        Array.from({ length: 5 }, (_, k) => ({ value: `r${i + k}`.padEnd(60, '.') })),
      )
    // A start below the log start is the documented start at the log start: no error.
    await admin.deleteRecords('rgap', [{ partition: 0, offset: 5 }])
    const fromZero = await collect(sl.replay({ topic: 'rgap', from: 0, to: 20 }))
    expect(fromZero.map((m) => m.offset)).toEqual(Array.from({ length: 15 }, (_, i) => 5 + i))
    // Records the replay has not reached yet, deleted under it: before, it went on at 60 without a word.
    const got: number[] = []
    const err = await (async () => {
      for await (const m of sl.replay({ topic: 'rgap', from: 5, to: 'latest', maxBytes: 200 })) {
        got.push(m.offset)
        if (m.offset === 6) await admin.deleteRecords('rgap', [{ partition: 0, offset: 60 }])
      }
    })().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(OffsetOutOfRangeError)
    expect(err).toMatchObject({ logStartOffset: 60, topic: 'rgap', partition: 0 })
    expect((err as Error).message).toMatch(/rgap\/0: records \d+-59 were deleted/)
    // Everything delivered before the error is contiguous from the start.
    expect(got).toEqual(Array.from({ length: got.length }, (_, i) => 5 + i))
  })

  test('a record the codec cannot decode fails the replay with a RecordDecodeError naming it', async () => {
    const sl = getSluice()
    await sl.admin().createTopic('rdec', { partitions: 1 })
    const producer = sl.producer({ lingerMs: 0 })
    await producer.send('rdec', { value: '{"ok":1}' })
    await producer.send('rdec', { value: 'not json' })
    const seen: unknown[] = []
    const err = await (async () => {
      for await (const m of sl.replay({ topic: 'rdec', valueCodec: 'json' })) seen.push(m.value)
    })().catch((e: unknown) => e)
    expect(seen).toEqual([{ ok: 1 }])
    expect(err).toBeInstanceOf(RecordDecodeError)
    expect(err).toMatchObject({ topic: 'rdec', partition: 0, offset: 1, field: 'value' })
    expect((err as Error).message).toMatch(/^the value of rdec\/0 at offset 1 could not be decoded: /)
  })
})

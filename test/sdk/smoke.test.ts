// Smoke: a record sent through the producer comes back from replay with the same offset, key, value and headers.
import { expect, test } from 'vitest'
import { describeEachTransport } from '../../src/testing/sdk-harness.js'

describeEachTransport('smoke', (getSluice) => {
  test('send then replay returns the same record', async () => {
    const sl = getSluice()
    await sl.admin().createTopic('t1', { partitions: 2 })
    const producer = sl.producer()
    const meta = await producer.send('t1', { key: 'k', value: 'hello', headers: { h: 'x' } })
    const out = []
    for await (const m of sl.replay({ topic: 't1' })) out.push(m)
    expect(out).toHaveLength(1)
    expect(out[0]!.offset).toBe(meta.offset)
    expect(out[0]!.value).toEqual(Buffer.from('hello'))
    expect(out[0]!.headers.h).toEqual(Buffer.from('x'))
  })
})

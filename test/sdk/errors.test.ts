// Every bad input to the SDK gets a typed error from src/errors.ts whose message names the problem, once per
// transport (errors that come from the broker must arrive as the same class over TCP).
import { expect, test } from 'vitest'
import { describeEachTransport } from '../../src/testing/sdk-harness.js'
import {
  ClosedError,
  InvalidArgumentError,
  InvalidConfigError,
  RecordTooLargeError,
  TopicExistsError,
  UnknownPartitionError,
  UnknownTopicError,
} from '../../src/errors.js'
import type { ProducerOptions, ConsumerOptions } from '../../src/client/client-config.js'
import type { Transport } from '../../src/client/transport.js'

describeEachTransport('errors', (getSluice) => {
  test('bad topic names are refused with InvalidArgumentError naming the name', async () => {
    const sl = getSluice()
    const admin = sl.admin()
    for (const name of ['', '.', '..', 'has space', 'slash/es', 'x'.repeat(250), 'ünïcode']) {
      await expect(admin.createTopic(name)).rejects.toThrow(InvalidArgumentError)
      await expect(sl.producer().send(name, { value: 'x' })).rejects.toThrow(InvalidArgumentError)
      expect(() => sl.replay({ topic: name })).toThrow(InvalidArgumentError)
    }
    await expect(admin.createTopic('has space')).rejects.toThrow(/has space/)
    await expect(admin.createTopic('x'.repeat(250))).rejects.toThrow(/250/)
  })

  test('bad partition counts are refused, naming the count', async () => {
    const admin = getSluice().admin()
    for (const partitions of [0, -1, 1.5, 10_001, Number.NaN])
      await expect(admin.createTopic('p', { partitions })).rejects.toThrow(InvalidConfigError)
    await expect(admin.createTopic('p', { partitions: 0 })).rejects.toThrow(/partitions.*0/)
    await expect(admin.listTopics()).resolves.toEqual([])
  })

  test('a misspelt key is refused naming it, not ignored for its default', async () => {
    const sl = getSluice()
    await sl.admin().createTopic('typo', { partitions: 2 })
    const producer = sl.producer()
    await expect(producer.send('typo', { key: 'k', vaule: 'x' } as never)).rejects.toThrow(
      /message has an unknown key "vaule"/,
    )
    await expect(producer.sendBatch('typo', [{ value: 'a' }, { vaule: 'b' } as never])).rejects.toThrow(
      /message 1 has an unknown key "vaule"/,
    )
    // With a value too: before, a misspelt partition, headers or timestamp was dropped and the record sent without it.
    for (const field of ['partiton', 'header', 'timestmp'])
      await expect(producer.send('typo', { key: 'k', value: 'x', [field]: 0 } as never)).rejects.toThrow(
        new RegExp(`message has an unknown key "${field}"`),
      )
    await expect(producer.sendBatch('typo', [{ value: 'a' }, { value: 'b', partiton: 1 } as never])).rejects.toThrow(
      /message 1 has an unknown key "partiton"/,
    )
    await expect(producer.send('typo', { value: 'x', partition: '0' } as never)).rejects.toThrow(
      /partition must be a non-negative integer, got the string "0"/,
    )
    expect(() => sl.replay({ topic: 'typo', partition: 1 } as never)).toThrow(/replay options.*"partition"/)
    await expect(
      sl.admin().resetOffsets('g', { topic: 'typo', to: 'earliest', dryrun: false } as never),
    ).rejects.toThrow(/resetOffsets options.*"dryrun"/)
    const consumer = sl.consumer()
    await expect(consumer.assign([{ topic: 'typo', partition: 0, ofset: 5 } as never])).rejects.toThrow(
      /assign\(\) entry.*"ofset"/,
    )
    await consumer.assign([{ topic: 'typo', partition: 0 }])
    expect(() => consumer.pause([{ topic: 'typo', partitions: [0] } as never])).toThrow(/"partitions"/)
    expect(consumer.paused()).toEqual([])
    await consumer.close()
    // Nothing was sent, nor a group created, by the refused calls.
    expect((await sl.admin().describeTopic('typo')).partitions.map((p) => p.logEndOffset)).toEqual([0, 0])
    expect(await sl.admin().listGroups()).toEqual([])
  })

  test('an existing topic, an unknown topic and an unknown partition get their own error classes', async () => {
    const sl = getSluice()
    const admin = sl.admin()
    await admin.createTopic('known', { partitions: 2 })
    await expect(admin.createTopic('known')).rejects.toThrow(TopicExistsError)
    await expect(admin.describeTopic('missing')).rejects.toThrow(UnknownTopicError)
    await expect(sl.producer().send('missing', { value: 'x' })).rejects.toThrow(UnknownTopicError)
    await expect(sl.producer().send('missing', { value: 'x' })).rejects.toThrow(/missing/)
    await expect(sl.producer().send('known', { value: 'x', partition: 2 })).rejects.toThrow(UnknownPartitionError)
    await expect(sl.producer().send('known', { value: 'x', partition: 2 })).rejects.toThrow(/partition 2/)
    await expect(sl.producer().send('known', { value: 'x', partition: -1 })).rejects.toThrow(InvalidArgumentError)
    // All or nothing: a call naming a partition that does not exist sends none of its records.
    const producer = sl.producer({ lingerMs: 0 })
    await producer.send('known', { value: 'warm', partition: 0 })
    await expect(
      producer.sendBatch('known', [
        { value: 'a', partition: 0 },
        { value: 'b', partition: 1 },
        { value: 'c', partition: 7 },
      ]),
    ).rejects.toThrow(/no partition 7/)
    await producer.flush()
    expect((await admin.describeTopic('known')).partitions.map((p) => p.logEndOffset)).toEqual([1, 0])
    await expect(sl.consumer().assign([{ topic: 'known', partition: 5 }])).rejects.toThrow(UnknownPartitionError)
    await expect(sl.consumer().assign([{ topic: 'missing', partition: 0 }])).rejects.toThrow(UnknownTopicError)
    const replay = sl.replay({ topic: 'known', partitions: [3] })
    await expect(replay[Symbol.asyncIterator]().next()).rejects.toThrow(UnknownPartitionError)
    const unknown = sl.replay({ topic: 'missing' })
    await expect(unknown[Symbol.asyncIterator]().next()).rejects.toThrow(UnknownTopicError)
    // The classes' own fields arrive too, over TCP as embedded (before, a TCP client got '' and -1 in them).
    const caught = (work: Promise<unknown>) =>
      work.then(
        () => null,
        (e: unknown) => e,
      )
    expect(await caught(admin.describeTopic('missing'))).toMatchObject({ code: 'UNKNOWN_TOPIC', topic: 'missing' })
    expect(await caught(admin.createTopic('known'))).toMatchObject({ code: 'TOPIC_EXISTS', topic: 'known' })
    expect(await caught(admin.describeGroup('no-group'))).toMatchObject({ code: 'UNKNOWN_GROUP', groupId: 'no-group' })
    await sl.producer({ lingerMs: 0 }).sendBatch('known', [
      { value: 'a', partition: 0 },
      { value: 'b', partition: 0 },
    ])
    expect(await caught(admin.deleteRecords('known', [{ partition: 0, offset: 9 }]))).toMatchObject({
      code: 'OFFSET_OUT_OF_RANGE',
      offset: 9,
      logStartOffset: 0,
      logEndOffset: 3, // 'warm' and the two above
    })
    expect(await caught(sl.consumer().assign([{ topic: 'known', partition: 5 }]))).toMatchObject({
      topic: 'known',
      partition: 5,
      partitionCount: 2,
    })
    // Every problem of a config the broker refuses (the Admin checks first; the transport does not).
    const refused = (await caught(
      (sl.transport as Transport).createTopic({
        name: 'bad-config',
        partitions: 1,
        config: { segmentBytes: 1, flushIntervalMs: 0 },
      }),
    )) as InvalidConfigError
    expect(refused).toBeInstanceOf(InvalidConfigError)
    expect(refused.problems).toHaveLength(2)
    expect(refused.problems.join(' ')).toMatch(/segmentBytes.*flushIntervalMs/)
  })

  test('a record larger than recordBytesMax gets RecordTooLargeError naming its size; other sends go on', async () => {
    const sl = getSluice()
    await sl.admin().createTopic('big', { partitions: 1 })
    const producer = sl.producer()
    const tooBig = Buffer.alloc(1024 * 1024 + 1)
    await expect(producer.send('big', { value: tooBig })).rejects.toThrow(RecordTooLargeError)
    await expect(producer.send('big', { value: tooBig })).rejects.toThrow(/1048\d\d\d bytes/)
    // A value just under the limit: the message names the batch size that is over it (before, only the record's
    // size, below the limit it said it exceeded).
    const near = Buffer.alloc(1024 * 1024 - 40)
    await expect(producer.send('big', { value: near })).rejects.toThrow(
      /is about 10485\d\d bytes .*batch header, 10486\d\d bytes: more than recordBytesMax 1048576/,
    )
    await expect(producer.sendBatch('big', [{ value: 'ok' }, { value: tooBig }])).rejects.toThrow(/message 1/)
    const small = sl.producer({ recordBytesMax: 1000 })
    await expect(small.send('big', { value: Buffer.alloc(2000) })).rejects.toThrow(/recordBytesMax 1000/)
    expect((await producer.send('big', { value: 'fine' })).offset).toBe(0)
  })

  test('bad message shapes and values the codec cannot encode are refused', async () => {
    const sl = getSluice()
    await sl.admin().createTopic('shape', { partitions: 1 })
    const producer = sl.producer()
    await expect(producer.send('shape', null as never)).rejects.toThrow(InvalidArgumentError)
    await expect(producer.send('shape', { value: 42 as never })).rejects.toThrow(/'buffer' codec/)
    await expect(producer.send('shape', { value: 'x', headers: { h: 5 as never } })).rejects.toThrow(/header "h"/)
    await expect(producer.send('shape', { value: 'x', timestamp: -5 })).rejects.toThrow(/^message timestamp/)
    await expect(producer.sendBatch('shape', [{ value: 'x' }, { value: 'y', timestamp: 1.5 }])).rejects.toThrow(
      /^message 1 timestamp/,
    )
    await expect(producer.sendBatch('shape', [{ value: 'x', timestamp: new Date(7) }, null as never])).rejects.toThrow(
      /^message 1 must be an object/,
    )
    await expect(producer.sendBatch('shape', 'nope' as never)).rejects.toThrow(InvalidArgumentError)
    await expect(sl.producer({ valueCodec: 'json' }).send('shape', { value: () => 1 })).rejects.toThrow(/json/)
  })

  test('bad producer and consumer config list every problem in one InvalidConfigError', () => {
    const sl = getSluice()
    const producerInput = { acks: 2, lingerMs: -1, batchBytes: 10, compression: 'zstd', valueCodec: 'xml', bogus: 1 }
    let err: unknown
    try {
      sl.producer(producerInput as unknown as ProducerOptions)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(InvalidConfigError)
    const problems = (err as InvalidConfigError).problems
    expect(problems).toHaveLength(6)
    for (const word of ['acks', 'lingerMs', 'batchBytes', 'compression', 'valueCodec', 'bogus'])
      expect(problems.some((p) => p.includes(word))).toBe(true)
    expect(producerInput.acks).toBe(2) // the caller's object is not touched
    const consumerInput = { autoOffsetReset: 'middle', maxBytes: 0, heartbeatIntervalMs: 20_000, groupInstanceId: 'x' }
    try {
      sl.consumer(consumerInput as unknown as ConsumerOptions)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(InvalidConfigError)
    const cProblems = (err as InvalidConfigError).problems
    for (const word of ['autoOffsetReset', 'maxBytes', 'heartbeatIntervalMs', 'groupInstanceId'])
      expect(cProblems.some((p) => p.includes(word))).toBe(true)
    expect(() => sl.producer({ acks: 0, idempotent: true })).toThrow(/idempotent/)
  })

  test('consumer misuse is refused: run without assignment, two handlers, seek of an unassigned partition', async () => {
    const sl = getSluice()
    await sl.admin().createTopic('cm', { partitions: 1 })
    const consumer = sl.consumer()
    await expect(consumer.run({ eachMessage: () => {} })).rejects.toThrow(/subscribe\(\) or assign\(\)/)
    const other = sl.consumer()
    await expect(other.run({ eachMessage: () => {}, eachBatch: () => {} })).rejects.toThrow(/exactly one/)
    expect(() => other.seek({ topic: 'cm', partition: 0, offset: 1 })).toThrow(/not assigned/)
    await expect(other.subscribe(['cm'])).rejects.toThrow(/groupId/)
    // A pattern the broker cannot match in linear time, or flags it would not see, are refused at subscribe().
    const grouped = sl.consumer({ groupId: 'cm-g' })
    await expect(grouped.subscribe(/^(c)\1$/)).rejects.toThrow(/cannot be matched in linear time/)
    await expect(grouped.subscribe(/^CM$/i)).rejects.toThrow(/without flags.*\/\^CM\$\/i/)
    await grouped.close()
    await expect(other.commit()).rejects.toThrow(/groupId/)
    await other.assign([{ topic: 'cm', partition: 0 }])
    expect(() => other.seek({ topic: 'cm', partition: 0, offset: -3 })).toThrow(/offset/)
    // run() options are checked like every other option object: a consumer option given to run() would never be
    // called, a misspelt handler never run.
    await expect(other.run({ eachMessage: () => {}, onAssign: () => {} } as never)).rejects.toThrow(
      /run\(\) options has an unknown key "onAssign" \(known: eachMessage, eachBatch\)/,
    )
    await expect(other.run({ eachMesage: () => {} } as never)).rejects.toThrow(/unknown key "eachMesage"/)
    await expect(other.run(null as never)).rejects.toThrow(InvalidArgumentError)
  })

  test('use after close gets ClosedError: producer, consumer and the Sluice itself', async () => {
    const sl = getSluice()
    await sl.admin().createTopic('closed', { partitions: 1 })
    const producer = sl.producer()
    await producer.close()
    await expect(producer.send('closed', { value: 'x' })).rejects.toThrow(ClosedError)
    const consumer = sl.consumer()
    await consumer.close()
    await expect(consumer.assign([{ topic: 'closed', partition: 0 }])).rejects.toThrow(ClosedError)
    // Every call of a closed consumer, not only some: a commit() that resolved after close() saved nothing.
    const grouped = sl.consumer({ groupId: 'closed-g', autoCommit: false })
    await grouped.assign([{ topic: 'closed', partition: 0, offset: 0 }])
    await grouped.close()
    await expect(grouped.commit()).rejects.toThrow(ClosedError)
    expect(() => grouped.pause([{ topic: 'closed' }])).toThrow(ClosedError)
    expect(() => grouped.resume([{ topic: 'closed' }])).toThrow(ClosedError)
    expect(() => grouped.position({ topic: 'closed', partition: 0 })).toThrow(ClosedError)
    expect(() => grouped.assignment()).toThrow(ClosedError)
    expect(() => grouped.paused()).toThrow(ClosedError)
    expect(() => grouped[Symbol.asyncIterator]()).toThrow(ClosedError)
    await expect(grouped.run({ eachMessage: () => {} })).rejects.toThrow(ClosedError)
    const admin = sl.admin()
    await sl.close()
    expect(() => sl.producer()).toThrow(ClosedError)
    expect(() => sl.consumer()).toThrow(ClosedError)
    expect(() => sl.admin()).toThrow(ClosedError)
    expect(() => sl.replay({ topic: 'closed' })).toThrow(ClosedError)
    await expect(admin.listTopics()).rejects.toThrow(ClosedError)
  })
})

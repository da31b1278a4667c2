// Two SDK consumers in one group, once per transport: the partitions are split between them, every record is
// delivered once while both run, and when one closes (committing its positions) the other takes its partitions over
// from the committed offsets, so nothing is lost and nothing is delivered twice; close({ commit: false }) leaves
// without committing.
import { expect, test } from 'vitest'
import { describeEachTransport, transportWith, until } from '../../src/testing/sdk-harness.js'
import type { Transport } from '../../src/client/transport.js'
import { Sluice } from '../../src/sluice.js'
import type { Message } from '../../src/client/consumer.js'
import {
  FencedMemberEpochError,
  NoCommittedOffsetError,
  NotOwnerError,
  ConnectionError,
  OffsetOutOfRangeError,
  UnknownGroupError,
  UnknownTopicError,
} from '../../src/errors.js'
import type { ConsumerOptions } from '../../src/client/client-config.js'

describeEachTransport('group consumer', (getSluice, env) => {
  test('two members split the partitions; after one leaves the other resumes its partitions from the commits', async () => {
    const sl = getSluice()
    await sl.admin().createTopic('grp', { partitions: 4 })
    const producer = sl.producer({ lingerMs: 0 })
    const options: ConsumerOptions = {
      groupId: 'g',
      autoOffsetReset: 'earliest',
      heartbeatIntervalMs: 50,
      sessionTimeoutMs: 5000,
      valueCodec: 'string',
      maxWaitMs: 50,
    }
    const got: Array<{ member: string; message: Message }> = []
    const a = sl.consumer(options)
    await a.subscribe(['grp'])
    await a.run({ eachMessage: ({ message }) => void got.push({ member: 'a', message }) })
    const b = (await env().client()).consumer(options)
    await b.subscribe(['grp'])
    await b.run({ eachMessage: ({ message }) => void got.push({ member: 'b', message }) })
    await until(() => a.assignment().length === 2 && b.assignment().length === 2, 'a 2/2 split')
    const owners = [...a.assignment(), ...b.assignment()].map((tp) => tp.partition).sort()
    expect(owners).toEqual([0, 1, 2, 3])

    await producer.sendBatch(
      'grp',
      Array.from({ length: 200 }, (_, i) => ({ partition: i % 4, value: `one-${i}` })),
    )
    await until(() => got.length >= 200, 'the first 200 records')
    for (const { member, message } of got) {
      const owner = member === 'a' ? a : b
      expect(owner.assignment().some((tp) => tp.partition === message.partition)).toBe(true)
    }

    await b.close()
    await until(() => a.assignment().length === 4, 'a to own all 4 partitions')
    await producer.sendBatch(
      'grp',
      Array.from({ length: 200 }, (_, i) => ({ partition: i % 4, value: `two-${i}` })),
    )
    await until(() => got.length >= 400, 'the next 200 records')
    await new Promise((r) => setTimeout(r, 100))
    const values = got.map((g) => String(g.message.value))
    expect(values).toHaveLength(400)
    expect(new Set(values).size).toBe(400)
    await a.close()
    const group = await sl.admin().describeGroup('g')
    expect(group.offsets.map((o) => o.committedOffset)).toEqual([100, 100, 100, 100])
  })

  test('a RegExp subscription assigns the matching topics only', async () => {
    const sl = getSluice()
    for (const name of ['rx-a', 'rx-b', 'other']) await sl.admin().createTopic(name, { partitions: 1 })
    const consumer = sl.consumer({
      groupId: 'rx',
      autoOffsetReset: 'earliest',
      heartbeatIntervalMs: 50,
      valueCodec: 'string',
    })
    await consumer.subscribe(/^rx-/)
    const got: Message[] = []
    await consumer.run({ eachMessage: ({ message }) => void got.push(message) })
    const producer = sl.producer()
    await producer.send('rx-a', { value: 'a' })
    await producer.send('other', { value: 'o' })
    await producer.send('rx-b', { value: 'b' })
    await until(() => got.length === 2, 'the two matching records')
    await new Promise((r) => setTimeout(r, 50))
    expect(got.map((m) => m.value).sort()).toEqual(['a', 'b'])
    expect(
      consumer
        .assignment()
        .map((tp) => tp.topic)
        .sort(),
    ).toEqual(['rx-a', 'rx-b'])
    await consumer.close()
  })

  test('close({ commit: false }) leaves the group at once and commits nothing; a bad close option is refused', async () => {
    const sl = getSluice()
    await sl.admin().createTopic('nocommit', { partitions: 2 })
    await sl.producer().sendBatch(
      'nocommit',
      Array.from({ length: 20 }, (_, i) => ({ partition: i % 2, value: `v-${i}` })),
    )
    const options: ConsumerOptions = {
      groupId: 'nc',
      autoOffsetReset: 'earliest',
      heartbeatIntervalMs: 50,
      sessionTimeoutMs: 30_000,
      autoCommitIntervalMs: 60_000,
      maxWaitMs: 50,
    }
    const a = sl.consumer(options)
    await a.subscribe(['nocommit'])
    let seen = 0
    await a.run({ eachMessage: () => void seen++ })
    await until(() => seen === 20, 'all 20 records')
    await expect(a.close({ comit: false } as never)).rejects.toThrow(/unknown key "comit"/)
    await a.close({ commit: false })
    // No member and no commit: the group is gone (had it committed, it would stay with its offsets).
    await expect(sl.admin().describeGroup('nc')).rejects.toBeInstanceOf(UnknownGroupError)
    // The default close commits what was delivered.
    const b = sl.consumer(options)
    await b.subscribe(['nocommit'])
    let again = 0
    await b.run({ eachMessage: () => void again++ })
    await until(() => again === 20, 'the 20 records again, nothing having been committed')
    await b.close()
    const committed = await sl.admin().describeGroup('nc')
    expect(committed.offsets.map((o) => o.committedOffset)).toEqual([10, 10])
  })

  test('pause({ topic }) holds partitions assigned later until resumed; a topic the consumer does not read is refused', async () => {
    const sl = getSluice()
    await sl.admin().createTopic('held', { partitions: 2 })
    await sl.producer().sendBatch(
      'held',
      Array.from({ length: 10 }, (_, i) => ({ partition: i % 2, value: `h-${i}` })),
    )
    const consumer = sl.consumer({
      groupId: 'hold',
      autoOffsetReset: 'earliest',
      heartbeatIntervalMs: 50,
      maxWaitMs: 50,
    })
    await consumer.subscribe(['held'])
    expect(() => consumer.pause([{ topic: 'helt' }])).toThrow(/"helt": this consumer neither subscribes to it/)
    await expect(consumer.seekToTimestamp('helt', 0)).rejects.toThrow(/"helt": this consumer neither subscribes/)
    await consumer.seekToTimestamp('held', 0) // subscribed, nothing assigned yet: nothing to seek, no error
    // Paused before the group assigns anything: before, this was a silent no-op and delivery began at assignment.
    consumer.pause([{ topic: 'held' }])
    let seen = 0
    await consumer.run({ eachMessage: () => void seen++ })
    await until(() => consumer.assignment().length === 2, 'both partitions assigned')
    await new Promise((r) => setTimeout(r, 300))
    expect(seen).toBe(0)
    expect(consumer.paused()).toHaveLength(2)
    consumer.resume([{ topic: 'held' }])
    await until(() => seen === 10, 'the 10 records after resume')
    await consumer.close()
  })

  test("autoOffsetReset 'none': no commit, and a position deleted under the consumer, stop the partition with a typed error until seek()", async () => {
    const sl = getSluice()
    const admin = sl.admin()
    await admin.createTopic('strict', { partitions: 1, segmentBytes: 1024 })
    const producer = sl.producer({ lingerMs: 0 })
    const fill = (from: number) =>
      producer.sendBatch(
        'strict',
        Array.from({ length: 10 }, (_, i) => ({ value: `s-${from + i}`.padEnd(60, '.') })),
      )
    for (let i = 0; i < 60; i += 10) await fill(i)
    const consumer = sl.consumer({
      groupId: 'strict-g',
      autoOffsetReset: 'none',
      heartbeatIntervalMs: 50,
      maxBytes: 200, // a batch (10 records) per fetch: the deletion lands before the consumer has fetched past it
      maxWaitMs: 50,
    })
    const errors: Error[] = []
    consumer.on('error', (err) => void errors.push(err))
    await consumer.subscribe(['strict'])
    const seen: number[] = []
    await consumer.run({
      eachMessage: async ({ message }) => {
        seen.push(message.offset)
        // Records the consumer has not reached yet are deleted under it.
        if (message.offset === 12) await admin.deleteRecords('strict', [{ partition: 0, offset: 50 }])
      },
    })
    await until(() => errors.length === 1, 'the no-commit error')
    expect(errors[0]).toBeInstanceOf(NoCommittedOffsetError)
    expect(errors[0]).toMatchObject({ topic: 'strict', partition: 0 })
    expect(seen).toEqual([])
    // Listed as stopped (paused() does not name it: nobody paused it).
    expect(consumer.stopped()).toEqual([{ topic: 'strict', partition: 0, offset: -1, error: errors[0] }])
    expect(consumer.paused()).toEqual([])
    consumer.seek({ topic: 'strict', partition: 0, offset: 10 })
    await until(() => errors.length === 2, 'the out-of-range error')
    expect(errors[1]).toBeInstanceOf(OffsetOutOfRangeError)
    expect(errors[1]).toMatchObject({ logStartOffset: 50 })
    // Stopped where it was: nothing past the gap was delivered (with 'earliest' it would have gone on at 50).
    expect(seen.every((o) => o < 50)).toBe(true)
    expect(consumer.stopped().map((x) => [x.partition, x.error])).toEqual([[0, errors[1]]])
    consumer.seek({ topic: 'strict', partition: 0, offset: 50 })
    expect(consumer.stopped()).toEqual([])
    await until(() => seen.includes(59), 'the records after the seek')
    await consumer.close()
  })

  test('await consumer.close() inside eachMessage or eachBatch, after awaits, stops the member without a deadlock and commits what was handled', async () => {
    const sl = getSluice()
    await sl.admin().createTopic('stopper', { partitions: 1 })
    await sl.producer().sendBatch(
      'stopper',
      Array.from({ length: 30 }, (_, i) => ({ value: `x-${i}` })),
    )
    for (const mode of ['message', 'batch'] as const) {
      const groupId = `stopper-${mode}`
      const consumer = sl.consumer({
        groupId,
        autoOffsetReset: 'earliest',
        heartbeatIntervalMs: 50,
        maxWaitMs: 50,
        maxBatchMessages: 5,
      })
      await consumer.subscribe(['stopper'])
      let handled = 0
      let closeReturned = false
      const stopAfter = async (n: number) => {
        handled += n
        await new Promise((r) => setTimeout(r, 5)) // the close comes after an await, as in real handlers
        if (handled >= 10) {
          await consumer.close() // before: never returned, and the member held its partition for good
          closeReturned = true
        }
      }
      await consumer.run(
        mode === 'message'
          ? { eachMessage: () => stopAfter(1) }
          : { eachBatch: ({ batch }) => stopAfter(batch.messages.length) },
      )
      await until(() => closeReturned && consumer.closed, `${mode}: close() to return and the consumer to close`)
      expect(handled).toBe(10)
      const group = await sl.admin().describeGroup(groupId)
      expect(group.members).toEqual([])
      expect(group.offsets.map((o) => o.committedOffset)).toEqual([10])
    }
  })

  test('a member goes on reading a topic deleted and created again while it is assigned', async () => {
    const sl = getSluice()
    const admin = sl.admin()
    await admin.createTopic('phoenix', { partitions: 1 })
    const consumer = sl.consumer({
      groupId: 'phoenix-g',
      autoOffsetReset: 'earliest',
      // Heartbeats slower than the delete and re-create: the group never sees the topic gone, so the member keeps
      // its assignment throughout and only its fetches meet the missing topic.
      heartbeatIntervalMs: 3000,
      maxWaitMs: 50,
      valueCodec: 'string',
    })
    const errors: Error[] = []
    consumer.on('error', (err) => void errors.push(err))
    await consumer.subscribe(['phoenix'])
    const got: string[] = []
    await consumer.run({ eachMessage: ({ message }) => void got.push(message.value as string) })
    const producer = sl.producer({ lingerMs: 0 })
    await producer.sendBatch(
      'phoenix',
      Array.from({ length: 20 }, (_, i) => ({ value: `a${i}` })),
    )
    await until(() => got.length === 20, 'the first 20 records')
    await admin.deleteTopic('phoenix')
    await new Promise((r) => setTimeout(r, 300)) // fetches meet the missing topic
    await admin.createTopic('phoenix', { partitions: 1 })
    await producer.sendBatch(
      'phoenix',
      Array.from({ length: 5 }, (_, i) => ({ value: `b${i}` })),
    )
    // Before, the first UNKNOWN_TOPIC stopped the partition for good while the group kept it assigned.
    await until(() => got.filter((v) => v.startsWith('b')).length === 5, 'the records of the new topic')
    expect(got.filter((v) => v.startsWith('b'))).toEqual(['b0', 'b1', 'b2', 'b3', 'b4'])
    // Said, not spammed: the fetch reports the absence once (a commit meeting it may report it too).
    expect(errors.every((e) => e instanceof UnknownTopicError)).toBe(true)
    expect(errors.length).toBeLessThanOrEqual(3)
    await consumer.close()
  })

  test('a for await loop of a group member outlives heartbeats that fail with retriable errors (a broker restart)', async () => {
    const base = getSluice()
    await base.admin().createTopic('hb-blip', { partitions: 1 })
    let failures = 0
    const inner = base.transport as Transport
    const sl = new Sluice(
      transportWith(inner, {
        groupHeartbeat: (req) => {
          if (failures > 0) {
            failures--
            return Promise.reject(new ConnectionError('injected: connection to the coordinator lost'))
          }
          return inner.groupHeartbeat(req)
        },
      }),
    )
    const consumer = sl.consumer({ groupId: 'hb-blip-g', autoOffsetReset: 'earliest', heartbeatIntervalMs: 20 })
    await consumer.subscribe(['hb-blip'])
    const seen: string[] = []
    const reading = (async () => {
      for await (const m of consumer) {
        seen.push(String(m.value))
        if (m.value?.toString() === 'b') failures = 3 // the broker goes away between two records
        if (seen.length === 3) break
      }
    })()
    const producer = base.producer({ lingerMs: 0 })
    await producer.send('hb-blip', { value: 'a' })
    await producer.send('hb-blip', { value: 'b' })
    await until(() => seen.length === 2 && failures === 0, 'the failed heartbeats')
    await producer.send('hb-blip', { value: 'c' })
    // Before, the first failed heartbeat ended the loop with "connection ... lost": every `consume --group` of the CLI
    // exited 1 at a broker's clean restart.
    await reading
    expect(seen).toEqual(['a', 'b', 'c'])
    await consumer.close()
  })

  test('an automatic commit refused because an admin reset the offsets is not reported as an error', async () => {
    const base = getSluice()
    await base.admin().createTopic('reset-quiet', { partitions: 1 })
    await base.producer().sendBatch('reset-quiet', [{ value: 'a' }, { value: 'b' }])
    let refusal: FencedMemberEpochError | null = null
    let refused = 0
    const inner = base.transport as Transport
    const sl = new Sluice(
      transportWith(inner, {
        commitOffsets: (req) => {
          if (refusal === null) return inner.commitOffsets(req)
          refused++
          return Promise.reject(refusal)
        },
      }),
    )
    const consumer = sl.consumer({ groupId: 'reset-quiet-g', autoOffsetReset: 'earliest', autoCommitIntervalMs: 20 })
    const errors: Error[] = []
    consumer.on('error', (err) => void errors.push(err))
    refusal = new FencedMemberEpochError('commit predates the reset (injected)', { afterReset: true })
    await consumer.subscribe(['reset-quiet'])
    await consumer.run({ eachMessage: () => {} })
    await until(() => refused >= 3, 'three refused automatic commits')
    // Before, each was an 'error' event (a process warning without a listener) on a documented, working path.
    expect(errors).toEqual([])
    refusal = new FencedMemberEpochError('stale epoch (injected)')
    const before = refused
    await until(() => refused >= before + 2, 'two more refused commits')
    expect(errors.length).toBeGreaterThan(0)
    expect(errors.every((e) => e instanceof FencedMemberEpochError && !e.afterReset)).toBe(true)
    refusal = null
    await consumer.close()
  })

  test('partitions lost without a commit (heartbeats unanswered for a session) reach onRevoke too', async () => {
    const base = getSluice()
    await base.admin().createTopic('lost', { partitions: 2 })
    let unreachable = false
    const inner = base.transport as Transport
    const sl = new Sluice(
      transportWith(inner, {
        groupHeartbeat: (req) =>
          unreachable
            ? Promise.reject(new ConnectionError('injected: coordinator unreachable'))
            : inner.groupHeartbeat(req),
      }),
    )
    const events: string[] = []
    const consumer = sl.consumer({
      groupId: 'lost-g',
      heartbeatIntervalMs: 50,
      sessionTimeoutMs: 400,
      onAssign: (tps) => void events.push(`assign ${tps.map((tp) => tp.partition).join(',')}`),
      onRevoke: (tps) => void events.push(`revoke ${tps.map((tp) => tp.partition).join(',')}`),
    })
    consumer.on('error', () => {})
    await consumer.subscribe(['lost'])
    await consumer.run({ eachMessage: () => {} })
    await until(() => events.includes('assign 0,1'), 'the assignment')
    unreachable = true
    // Before, lost partitions went without a word: an application that opened state in onAssign leaked it.
    await until(() => events.includes('revoke 0,1'), 'onRevoke for the lost partitions')
    expect(consumer.assignment()).toEqual([])
    unreachable = false
    await until(() => events.filter((e) => e === 'assign 0,1').length === 2, 'the member to rejoin')
    await consumer.close()
  })

  test('a handler stalled past maxPollIntervalMs costs the membership once: no rejoin storm, a rejoin once it returns', async () => {
    const sl = getSluice()
    await sl.admin().createTopic('stall', { partitions: 1 })
    await sl.producer().sendBatch(
      'stall',
      Array.from({ length: 10 }, (_, i) => ({ value: `s${i}` })),
    )
    const consumer = sl.consumer({
      groupId: 'stall-g',
      autoOffsetReset: 'earliest',
      heartbeatIntervalMs: 50,
      sessionTimeoutMs: 5000,
      maxPollIntervalMs: 300,
      maxWaitMs: 50,
    })
    const errors: Error[] = []
    consumer.on('error', (err) => void errors.push(err))
    await consumer.subscribe(['stall'])
    const handled: number[] = []
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (message.offset === 3 && !handled.includes(3)) await new Promise((r) => setTimeout(r, 1500))
        handled.push(message.offset)
      },
    })
    await until(() => handled.includes(9), 'every record, after the stall')
    // Before: a join every ~100 ms for the whole stall, each removed at once with an UnknownMemberError event.
    expect(errors.length).toBeLessThanOrEqual(2)
    await until(() => consumer.assignment().length === 1, 'the member to be back')
    await consumer.close()
  })

  test('a stalled eachBatch can tell its partition was lost (isStale), onRevoke waits for it, and its commit is refused as NotOwner', async () => {
    const sl = getSluice()
    await sl.admin().createTopic('stale', { partitions: 1 })
    await sl.producer().sendBatch(
      'stale',
      Array.from({ length: 5 }, (_, i) => ({ value: `s${i}` })),
    )
    const events: string[] = []
    const consumer = sl.consumer({
      groupId: 'stale-g',
      autoOffsetReset: 'earliest',
      autoCommit: false,
      heartbeatIntervalMs: 50,
      sessionTimeoutMs: 5000,
      maxPollIntervalMs: 300,
      maxWaitMs: 50,
      onRevoke: () => void events.push('onRevoke'),
    })
    consumer.on('error', () => {})
    await consumer.subscribe(['stale'])
    let commitError: unknown = null
    await consumer.run({
      eachBatch: async ({ batch, isStale }) => {
        if (events.length > 0) return
        events.push(`stale before: ${isStale()}`)
        await new Promise((r) => setTimeout(r, 1000)) // past maxPollIntervalMs: the member loses the partition
        events.push(`stale after: ${isStale()}`)
        const last = batch.messages[batch.messages.length - 1]!
        commitError = await consumer.commit([{ topic: 'stale', partition: 0, offset: last.offset + 1 }]).catch((e) => e)
        events.push('handler returned')
      },
    })
    await until(() => events.includes('onRevoke'), 'onRevoke for the lost partition')
    // Before: no way to tell (it processed the lost partition alongside its new owner), onRevoke ran while the
    // handler still used the partition, and the commit failed as an InvalidArgumentError "not assigned".
    expect(events.slice(0, 4)).toEqual(['stale before: false', 'stale after: true', 'handler returned', 'onRevoke'])
    expect(commitError).toBeInstanceOf(NotOwnerError)
    await consumer.close()
  })

  test('a second process with the same groupInstanceId takes the instance over; the first stops instead of taking it back', async () => {
    const sl = getSluice()
    await sl.admin().createTopic('static-dup', { partitions: 2 })
    const options = {
      groupId: 'static-dup-g',
      groupInstanceId: 's1',
      autoOffsetReset: 'earliest' as const,
      heartbeatIntervalMs: 30,
      sessionTimeoutMs: 5000,
    }
    const first = sl.consumer(options)
    const firstErrors: Error[] = []
    first.on('error', (err) => void firstErrors.push(err))
    await first.subscribe(['static-dup'])
    await first.run({ eachMessage: async () => {} })
    await until(() => first.assignment().length === 2, 'the first to hold both partitions')
    const second = sl.consumer(options)
    const secondErrors: Error[] = []
    second.on('error', (err) => void secondErrors.push(err))
    await second.subscribe(['static-dup'])
    await second.run({ eachMessage: async () => {} })
    await until(() => firstErrors.length > 0, 'the first to hear it was replaced')
    await new Promise((r) => setTimeout(r, 600)) // 20 heartbeat intervals: time for a ping-pong to show
    // Before, each fenced the other on every heartbeat and both kept processing the same partitions.
    expect(firstErrors).toHaveLength(1)
    expect(firstErrors[0]).toBeInstanceOf(FencedMemberEpochError)
    expect(firstErrors[0]).toMatchObject({ instanceReplaced: true })
    expect(firstErrors[0]!.message).toMatch(/groupInstanceId "s1" .* was taken over by another process/)
    expect(secondErrors).toEqual([])
    expect(first.assignment()).toEqual([])
    expect(second.assignment()).toHaveLength(2)
    // The replaced one's close() must not leave in the name of the instance the other holds now.
    await first.close()
    await new Promise((r) => setTimeout(r, 300))
    expect(secondErrors).toEqual([])
    expect(second.assignment()).toHaveLength(2)
    await second.close()
  })

  test('commit() inside a handler rides out a connection lost with the commit in flight (a broker restart)', async () => {
    const base = getSluice()
    await base.admin().createTopic('commit-blip', { partitions: 1 })
    await base.producer().sendBatch('commit-blip', [{ value: 'a' }, { value: 'b' }, { value: 'c' }])
    let failures = 0
    const inner = base.transport as Transport
    const sl = new Sluice(
      transportWith(inner, {
        commitOffsets: (req) => {
          if (failures > 0) {
            failures--
            return Promise.reject(new ConnectionError('injected: connection lost with the commit in flight'))
          }
          return inner.commitOffsets(req)
        },
      }),
    )
    const consumer = sl.consumer({
      groupId: 'commit-blip-g',
      autoOffsetReset: 'earliest',
      autoCommit: false,
      retryBackoffMs: 10,
    })
    const errors: Error[] = []
    consumer.on('error', (err) => void errors.push(err))
    await consumer.subscribe(['commit-blip'])
    const done: string[] = []
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (message.offset === 1) failures = 2
        await consumer.commit([{ topic: 'commit-blip', partition: 0, offset: message.offset + 1 }])
        done.push(String(message.value))
      },
    })
    await until(() => done.length === 3, 'all three records committed one by one')
    // Before, the failed commit threw out of the handler: the partition stopped at offset 1 for good.
    expect(errors).toEqual([])
    expect(consumer.stopped()).toEqual([])
    expect((await inner.fetchOffsets({ groupId: 'commit-blip-g' }))[0]?.offset).toBe(3)
    await consumer.close()
  })

  test('with autoCommit off, onRevoke can commit the partitions being revoked', async () => {
    const sl = getSluice()
    await sl.admin().createTopic('handoff', { partitions: 2 })
    await sl.producer().sendBatch(
      'handoff',
      Array.from({ length: 20 }, (_, i) => ({ value: `h${i}`, partition: i % 2 })),
    )
    const next = new Map<number, number>()
    const committedInRevoke: string[] = []
    const options = {
      groupId: 'handoff-g',
      autoOffsetReset: 'earliest' as const,
      autoCommit: false,
      heartbeatIntervalMs: 50,
      maxWaitMs: 50,
    }
    const a = sl.consumer({
      ...options,
      onRevoke: async (tps) => {
        // Before, both were refused: the revoked partitions were dropped before onRevoke ran.
        await a.commit(tps.map((tp) => ({ ...tp, offset: next.get(tp.partition) ?? 0 })))
        await a.commit()
        committedInRevoke.push(...tps.map((tp) => `${tp.topic}/${tp.partition}`))
      },
    })
    a.on('error', () => {})
    await a.subscribe(['handoff'])
    await a.run({ eachMessage: async ({ partition, message }) => void next.set(partition, message.offset + 1) })
    await until(() => next.get(0) === 10 && next.get(1) === 10, 'member A to read both partitions')
    const b = sl.consumer(options)
    await b.subscribe(['handoff'])
    await b.run({ eachMessage: async () => {} })
    await until(() => committedInRevoke.length === 1, 'A to give one partition up')
    const committed = await sl.transport.fetchOffsets({ groupId: 'handoff-g' })
    const moved = Number(committedInRevoke[0]!.split('/')[1])
    expect(committed.find((c) => c.partition === moved)?.offset).toBe(10)
    await b.close()
    await a.close()
  })

  test('close() with the coordinator unreachable waits at most 5 s for the leave after the commit', async () => {
    const base = getSluice()
    await base.admin().createTopic('farewell', { partitions: 1 })
    let down = false
    const inner = base.transport as Transport
    const sl = new Sluice(
      transportWith(inner, {
        // Down: heartbeats are never answered (as a broker that is gone, until the request timeout), commits fail.
        groupHeartbeat: (req) => (down ? new Promise(() => {}) : inner.groupHeartbeat(req)),
        commitOffsets: (req) =>
          down ? Promise.reject(new ConnectionError('injected: broker down')) : inner.commitOffsets(req),
      }),
    )
    const consumer = sl.consumer({ groupId: 'farewell-g', heartbeatIntervalMs: 50, sessionTimeoutMs: 30_000 })
    consumer.on('error', () => {})
    await consumer.subscribe(['farewell'])
    await consumer.run({ eachMessage: () => {} })
    await until(() => consumer.assignment().length === 1, 'the assignment')
    down = true
    const started = Date.now()
    await consumer.close() // before: waited on the leave for as long as the broker stayed silent
    expect(Date.now() - started).toBeLessThan(8_000)
    expect(consumer.closed).toBe(true)
  }, 20_000)
})

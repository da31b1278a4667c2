// End-to-end consumer groups with the real SDK on an embedded broker: disjoint ownership checked continuously while
// members join and leave (N < P, N = P, N > P), exactly-once delivery across graceful moves with commit-on-revoke,
// takeover from the committed offsets of a member that stops heartbeating, static membership, regex subscriptions
// picking up new topics, and resumption from committed offsets after a broker restart.
import { describe, expect } from 'vitest'
import type { Consumer } from '../src/client/consumer.js'
import { silentLogger } from '../src/broker/logger.js'
import { Sluice } from '../src/sluice.js'
import {
  cuttableTransport,
  FAST_GROUP,
  OwnershipTracker,
  produce,
  test,
  waitFor,
  type GroupWorld,
} from './groups-fixture.js'

const TOPIC = 'orders'
const PARTITIONS = 6

async function startMember(
  world: GroupWorld,
  tracker: OwnershipTracker,
  name: string,
  groupId: string,
  extra: Parameters<Sluice['consumer']>[0] = {},
  handlerDelayMs = 0,
): Promise<Consumer> {
  const consumer = world.sl.consumer({ ...FAST_GROUP, groupId, ...tracker.hooks(name), ...extra })
  await consumer.subscribe([TOPIC])
  await consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      tracker.delivered(name, topic, partition, message.offset)
      if (handlerDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, handlerDelayMs))
    },
  })
  return consumer
}

/** Waits until the coordinator reports `members` live members, Stable, and returns their partition counts. */
async function stableCounts(world: GroupWorld, groupId: string, members: number): Promise<number[]> {
  let counts: number[] = []
  await waitFor(`group ${groupId} stable with ${members} members`, async () => {
    const d = await world.sl.admin().describeGroup(groupId)
    counts = d.members.map((m) => m.assignment.length).sort((a, b) => a - b)
    return d.state === 'Stable' && d.members.length === members
  })
  return counts
}

function totalRecords(byPartition: Map<number, number[]>): number {
  let n = 0
  for (const offsets of byPartition.values()) n += offsets.length
  return n
}

describe('consumer groups end to end', () => {
  test('ownership stays disjoint and every record is delivered exactly once while members join and leave gracefully', async ({
    world,
  }) => {
    await world.sl.admin().createTopic(TOPIC, { partitions: PARTITIONS, flush: 'os' })
    const tracker = new OwnershipTracker()
    const produced = await produce(world.sl, TOPIC, 600)
    const members = new Map<string, Consumer>()
    const add = async (name: string): Promise<void> => {
      // Slow handlers keep records flowing while the group changes, so partitions move mid-stream.
      members.set(name, await startMember(world, tracker, name, 'g1', {}, 1))
    }
    await add('c1')
    await add('c2')
    expect(await stableCounts(world, 'g1', 2)).toEqual([3, 3]) // N < P
    for (const name of ['c3', 'c4', 'c5', 'c6']) await add(name)
    const more = await produce(world.sl, TOPIC, 300, 600)
    expect(await stableCounts(world, 'g1', 6)).toEqual([1, 1, 1, 1, 1, 1]) // N = P
    await add('c7')
    await add('c8')
    expect(await stableCounts(world, 'g1', 8)).toEqual([0, 0, 1, 1, 1, 1, 1, 1]) // N > P: two idle members
    for (const name of ['c1', 'c3', 'c7']) {
      await members.get(name)!.close()
      members.delete(name)
    }
    const last = await produce(world.sl, TOPIC, 300, 900)
    const counts = await stableCounts(world, 'g1', 5)
    expect(counts.reduce((s, c) => s + c, 0)).toBe(PARTITIONS)
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1)
    const all = [produced, more, last]
    const total = all.reduce((s, m) => s + totalRecords(m), 0)
    await waitFor('every record delivered', () => tracker.deliveries.size === total)
    for (const c of members.values()) await c.close()
    expect(tracker.violations).toEqual([])
    const handedOver = [...Array(PARTITIONS).keys()].filter(
      (p) => [...tracker.byName.values()].filter((m) => (m.get(p)?.length ?? 0) > 0).length > 1,
    )
    expect(handedOver.length, 'partitions that moved between members mid-stream').toBeGreaterThan(0)
    for (const byPartition of all)
      for (const [partition, offsets] of byPartition)
        for (const offset of offsets)
          expect(
            tracker.countOf(partition, offset),
            `deliveries of ${partition}@${offset} (graceful moves commit on revoke)`,
          ).toBe(1)
  })

  test('a member that stops heartbeating loses its partitions after the session timeout; the others resume from its commits', async ({
    world,
  }) => {
    await world.sl.admin().createTopic(TOPIC, { partitions: PARTITIONS, flush: 'os' })
    const tracker = new OwnershipTracker()
    const produced = await produce(world.sl, TOPIC, 600)
    const transport = cuttableTransport(world.sl.transport)
    const doomedSl = new Sluice(transport)
    world.extra.push(doomedSl)
    // A slow handler, so the member is cut off part-way through its partitions.
    const doomed = doomedSl.consumer({ ...FAST_GROUP, groupId: 'g2', ...tracker.hooks('doomed') })
    doomed.on('error', () => undefined)
    await doomed.subscribe([TOPIC])
    await doomed.run({
      eachMessage: async ({ topic, partition, message }) => {
        tracker.delivered('doomed', topic, partition, message.offset)
        await new Promise((resolve) => setTimeout(resolve, 2))
      },
    })
    const survivor = await startMember(world, tracker, 'survivor', 'g2')
    await stableCounts(world, 'g2', 2)
    const doomedPartitions = [...tracker.holders]
      .filter(([, h]) => h === 'doomed')
      .map(([k]) => Number(k.split(':')[1]))
    expect(doomedPartitions).toHaveLength(3)
    await waitFor('the doomed member commits progress', async () => {
      const committed = await world.sl.transport.fetchOffsets({ groupId: 'g2' })
      return committed.some((c) => doomedPartitions.includes(c.partition) && c.offset > 0)
    })
    transport.cut = true // from here on it can neither heartbeat nor commit
    tracker.forget('doomed')
    await new Promise((resolve) => setTimeout(resolve, 100)) // calls already past the cut settle
    const committedAtCut = new Map(
      (
        await world.sl.transport.fetchOffsets({
          groupId: 'g2',
          partitions: [{ topic: TOPIC, partitions: doomedPartitions }],
        })
      ).map((c) => [c.partition, c.offset]),
    )
    const later = await produce(world.sl, TOPIC, 60, 600)
    await waitFor('the survivor owns every partition', async () => {
      const d = await world.sl.admin().describeGroup('g2')
      return d.members.length === 1 && d.members[0]!.assignment.length === PARTITIONS
    })
    const total = totalRecords(produced) + totalRecords(later)
    await waitFor('every record delivered at least once', () => tracker.deliveries.size === total)
    const survivorSaw = tracker.byName.get('survivor')!
    const lastOffset = (p: number): number => Math.max(...(produced.get(p) ?? [-1]))
    expect(
      doomedPartitions.some((p) => committedAtCut.get(p)! <= lastOffset(p)),
      'the cut came before the doomed member finished a partition',
    ).toBe(true)
    for (const p of doomedPartitions) {
      const offsets = [...(produced.get(p) ?? []), ...(later.get(p) ?? [])]
      const committed = committedAtCut.get(p)!
      const expectedFirst = committed >= 0 ? committed : offsets[0]
      if (expectedFirst === undefined || expectedFirst > offsets[offsets.length - 1]!) continue
      expect(survivorSaw.get(p)?.[0], `first offset the survivor delivered on partition ${p}`).toBe(expectedFirst)
    }
    expect(tracker.violations).toEqual([])
    await survivor.close()
    await doomed.close().catch(() => undefined)
  })

  test('a static member that leaves and comes back within its session gets its partitions back, others untouched', async ({
    world,
  }) => {
    await world.sl.admin().createTopic(TOPIC, { partitions: 4, flush: 'os' })
    const tracker = new OwnershipTracker()
    const dynamicChanges: string[] = []
    const hooks = tracker.hooks('dynamic')
    const dynamic = await startMember(world, tracker, 'dynamic', 'g3', {
      sessionTimeoutMs: 2_000,
      onAssign: async (parts) => {
        await hooks.onAssign!(parts)
        dynamicChanges.push(`+${parts.map((p) => p.partition).join(',')}`)
      },
      onRevoke: async (parts) => {
        await hooks.onRevoke!(parts)
        dynamicChanges.push(`-${parts.map((p) => p.partition).join(',')}`)
      },
    })
    const staticOptions = { groupInstanceId: 'billing-1', sessionTimeoutMs: 2_000 }
    const first = await startMember(world, tracker, 'static', 'g3', staticOptions)
    await stableCounts(world, 'g3', 2)
    const before = await world.sl.admin().describeGroup('g3')
    const staticBefore = before.members.find((m) => m.groupInstanceId === 'billing-1')!
    const changesBefore = [...dynamicChanges]
    await first.close() // leaves with epoch -2: partitions stay reserved
    const away = await world.sl.admin().describeGroup('g3')
    expect(away.members.find((m) => m.groupInstanceId === 'billing-1')?.assignment).toEqual(staticBefore.assignment)
    const again = await startMember(world, tracker, 'static', 'g3', staticOptions)
    await stableCounts(world, 'g3', 2)
    const after = await world.sl.admin().describeGroup('g3')
    const staticAfter = after.members.find((m) => m.groupInstanceId === 'billing-1')!
    expect(staticAfter.memberId).toBe(staticBefore.memberId)
    expect(staticAfter.assignment).toEqual(staticBefore.assignment)
    expect(dynamicChanges).toEqual(changesBefore) // the dynamic member never gained or lost a partition
    expect(tracker.violations).toEqual([])
    await again.close()
    await dynamic.close()
  })

  test('a regex subscription picks up a matching topic created after the member joined', async ({ world }) => {
    const admin = world.sl.admin()
    await admin.createTopic('logs-a', { partitions: 2, flush: 'os' })
    await admin.createTopic('other', { partitions: 1, flush: 'os' })
    const seen = new Set<string>()
    const consumer = world.sl.consumer({ ...FAST_GROUP, groupId: 'g4' })
    await consumer.subscribe(/^logs-/)
    await consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        seen.add(`${topic}/${partition}@${message.offset}`)
      },
    })
    await admin.createTopic('logs-b', { partitions: 3, flush: 'os' })
    await produce(world.sl, 'logs-b', 30)
    await produce(world.sl, 'other', 5)
    await waitFor(
      'records of the new topic consumed',
      () => [...seen].filter((k) => k.startsWith('logs-b/')).length === 30,
    )
    const d = await admin.describeGroup('g4')
    expect(d.members[0]!.assignment.map((tp) => `${tp.topic}/${tp.partition}`).sort()).toEqual([
      'logs-a/0',
      'logs-a/1',
      'logs-b/0',
      'logs-b/1',
      'logs-b/2',
    ])
    expect([...seen].some((k) => k.startsWith('other/'))).toBe(false)
    await consumer.close()
  })

  test('after a broker restart a group resumes exactly from its committed offsets', async ({ world }) => {
    await world.sl.admin().createTopic(TOPIC, { partitions: 3, flush: 'os' })
    await produce(world.sl, TOPIC, 90)
    const first = new Set<string>()
    const c1 = world.sl.consumer({ ...FAST_GROUP, groupId: 'g5' })
    await c1.subscribe([TOPIC])
    await c1.run({
      eachMessage: async ({ partition, message }) => {
        first.add(`${partition}@${message.offset}`)
      },
    })
    await waitFor('first run consumed everything', () => first.size === 90)
    await c1.close()
    await world.sl.close()
    const reopened = await Sluice.open({ dataDir: world.dataDir, logger: silentLogger })
    world.extra.push(reopened)
    const later = await produce(reopened, TOPIC, 30, 90)
    const second: string[] = []
    const c2 = reopened.consumer({ ...FAST_GROUP, groupId: 'g5' })
    await c2.subscribe([TOPIC])
    await c2.run({
      eachMessage: async ({ partition, message }) => {
        second.push(`${partition}@${message.offset}`)
      },
    })
    await waitFor('second run consumed the new records', () => second.length >= 30)
    await new Promise((resolve) => setTimeout(resolve, 200)) // anything redelivered would arrive by now
    const expected = [...later].flatMap(([p, offsets]) => offsets.map((o) => `${p}@${o}`))
    expect(second.sort()).toEqual(expected.sort())
    await c2.close()
  })
})

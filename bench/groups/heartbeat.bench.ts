// Question: what does a heartbeat that changes nothing cost the group coordinator, in groups of 10, 100 and 1,000
// members, with membership snapshots on (a broker with a data dir), against the same heartbeats with snapshots off
// (the baseline, measured in the same run)?
// Envelope: a steady heartbeat checks its request, finds the member, compares its reported partitions with its
// holdings (one partition each) and answers: a few µs, independent of the group's size. Snapshots must add
// nothing when nothing changed; if a heartbeat serialized the group to find out (≈ 300 bytes per member), 1,000
// members heartbeating once a second would cost about a millisecond each: a whole event loop.
import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { Bench } from 'tinybench'
import type { GroupHeartbeatRequest, TopicPartitions } from '../../src/broker/api.js'
import { openGroupCoordinator, type GroupCoordinator } from '../../src/groups/group-coordinator.js'
import { openStorage, type Storage } from '../../src/storage/storage.js'
import { DEFAULT_TOPIC_CONFIG, toLogConfig } from '../../src/topics/topic-config.js'

const SIZES = [10, 100, 1000]

type Row = Record<string, string | number>

interface SimMember {
  id: string
  epoch: number
  owned: TopicPartitions[]
}

/** One partition per member, so a member's own work is the same at every size. */
const topicsOf = (partitions: number) => ({
  partitionCount: (t: string) => (t === 't' ? partitions : null),
  listTopics: () => ['t'],
  logStartOffset: () => 0,
  logEndOffset: () => 0,
  offsetForTimestamp: () => 0,
  onTopicsChanged: () => () => undefined,
})

function request(m: SimMember | null): GroupHeartbeatRequest {
  return {
    groupId: 'bench',
    memberId: m?.id ?? '',
    memberEpoch: m?.epoch ?? 0,
    groupInstanceId: null,
    subscribedTopics: m === null ? ['t'] : null,
    subscribedTopicRegex: null,
    assignor: null,
    sessionTimeoutMs: 30 * 60_000,
    rebalanceTimeoutMs: 30 * 60_000,
    lastPollMsAgo: 0,
    ownedPartitions: m?.owned ?? [],
  }
}

async function beat(c: GroupCoordinator, m: SimMember): Promise<void> {
  const r = await c.heartbeat(request(m))
  m.epoch = r.memberEpoch
  if (r.assignment !== null) m.owned = r.assignment
}

/** A coordinator whose group of `size` members has settled (every member holds its target). */
async function settledGroup(dir: string, size: number, snapshots: boolean) {
  const storage: Storage = await openStorage(dir)
  const offsetsLog = await storage.openLog(
    '__consumer_offsets/0',
    toLogConfig({ ...DEFAULT_TOPIC_CONFIG, retentionMs: -1, retentionBytes: -1, flush: 'sync' }),
  )
  const coordinator = await openGroupCoordinator({
    offsetsLog,
    topics: topicsOf(size),
    ...(snapshots ? { dataDir: dir } : {}),
  })
  const members: SimMember[] = []
  for (let i = 0; i < size; i++) {
    const r = await coordinator.heartbeat(request(null))
    members.push({ id: r.memberId, epoch: r.memberEpoch, owned: r.assignment ?? [] })
  }
  for (let round = 0; round < 4; round++) for (const m of members) await beat(coordinator, m)
  return { storage, coordinator, members }
}

export async function run(): Promise<Row[]> {
  const rows: Row[] = []
  for (const size of SIZES) {
    for (const snapshots of [false, true]) {
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-bench-heartbeat-'))
      const { storage, coordinator, members } = await settledGroup(dir, size, snapshots)
      try {
        const bench = new Bench({ time: 500, warmupTime: 100 })
        let next = 0
        bench.add(`${size} members, snapshots ${snapshots ? 'on' : 'off'}`, async () => {
          await beat(coordinator, members[next]!)
          next = (next + 1) % members.length
        })
        await bench.run()
        const result = bench.tasks[0]!.result as { state: string; error?: Error; latency?: { p50?: number } }
        if (result.state === 'errored') throw result.error ?? new Error('benchmark task failed')
        const p50Us = (result.latency?.p50 ?? NaN) * 1000
        rows.push({ name: bench.tasks[0]!.name, p50Us: Number(p50Us.toFixed(1)) })
      } finally {
        await coordinator.close()
        await storage.close()
        await fs.rm(dir, { recursive: true, force: true })
      }
    }
  }
  return rows
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = await run()
  console.log(`node ${process.version}, ${os.cpus().length}x ${os.cpus()[0]?.model ?? '?'}`)
  console.table(rows)
}

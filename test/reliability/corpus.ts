// The fuzz corpus of P1, captured from real traffic: an in-process broker (memory storage) is served on 127.0.0.1
// behind a recording TCP proxy, and the SDK runs a short scenario through the proxy (admin calls, idempotent and gzip
// produce, a group consumer that commits, offset resets). The recorded streams are cut into frames, so the corpus is
// exactly what the client and server put on the wire today; record batches are taken out of produce and fetch bodies.
import net from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { openBroker } from '../../src/broker/broker.js'
import { silentLogger } from '../../src/broker/logger.js'
import { openGroupCoordinator } from '../../src/groups/group-coordinator.js'
import { decodeBody } from '../../src/protocol/codec.js'
import { encodeFrame, FrameDecoder, type Frame } from '../../src/protocol/frame.js'
import { startServer } from '../../src/server/server.js'
import { Sluice } from '../../src/sluice.js'
import { encodeRecordBatch, iterateBatches } from '../../src/storage/record-batch.js'
import { forgetMemoryDataDir, openMemoryStorage } from '../../src/testing/memory-storage.js'

export interface Corpus {
  /** Whole request frames (size prefix included), client → server. */
  requests: Buffer[]
  /** Whole response frames, server → client. */
  responses: Buffer[]
  /** Record batches found in produce requests and fetch responses, plus a few built here (gzip, headers, nulls). */
  batches: Buffer[]
}

const CAPTURE_MS_MAX = 15_000

function cut(stream: Buffer): Frame[] {
  const decoder = new FrameDecoder()
  decoder.push(stream)
  const frames: Frame[] = []
  // Each turn takes one whole frame; the stream holds a finite number.
  for (let f = decoder.next(); f !== null; f = decoder.next()) frames.push(f)
  return frames
}

function batchesIn(value: unknown, out: Buffer[], depth = 0): void {
  if (depth > 8 || value === null || typeof value !== 'object') return
  if (Buffer.isBuffer(value)) {
    if (value.length >= 61)
      for (const { position, header } of iterateBatches(value))
        out.push(Buffer.from(value.subarray(position, position + header.batchBytes)))
    return
  }
  for (const v of Object.values(value)) batchesIn(v, out, depth + 1)
}

function builtBatches(): Buffer[] {
  const t = 1_700_000_000_000
  return [
    encodeRecordBatch([{ key: null, value: null, timestamp: t }]),
    encodeRecordBatch(
      [
        {
          key: Buffer.from('k'),
          value: Buffer.from('v'.repeat(300)),
          timestamp: t,
          headers: [{ key: 'h', value: Buffer.from('x') }],
        },
        { key: Buffer.from(''), value: Buffer.from('second'), timestamp: t + 5, headers: [{ key: 'n', value: null }] },
      ],
      { producerId: 7, producerEpoch: 0, baseSequence: 3 },
    ),
    encodeRecordBatch(
      Array.from({ length: 20 }, (_, i) => ({ key: null, value: Buffer.from(`gz-${i}`.repeat(10)), timestamp: t + i })),
      { compression: 'gzip' },
    ),
    encodeRecordBatch([{ key: Buffer.from('a'), value: Buffer.from('b'), timestamp: t }], {
      timestampType: 'logAppend',
    }),
  ]
}

/** Runs the scenario and returns the captured corpus. */
export async function captureCorpus(): Promise<Corpus> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'sluice-corpus-'))
  const broker = await openBroker(
    { dataDir },
    { logger: silentLogger, openStorage: openMemoryStorage, openGroupCoordinator },
  )
  const server = await startServer(broker, { host: '127.0.0.1', port: 0 })
  const toServer: Buffer[] = []
  const toClient: Buffer[] = []
  const sockets = new Set<net.Socket>()
  const proxy = net.createServer((client) => {
    const upstream = net.connect(server.port, '127.0.0.1')
    sockets.add(client).add(upstream)
    client.on('data', (d: Buffer) => {
      toServer.push(Buffer.from(d))
      upstream.write(d)
    })
    upstream.on('data', (d: Buffer) => {
      toClient.push(Buffer.from(d))
      client.write(d)
    })
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
    client.on('error', () => undefined)
    upstream.on('error', () => undefined)
  })
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
  const port = (proxy.address() as net.AddressInfo).port
  try {
    const sl = await Sluice.connect({ brokers: [`127.0.0.1:${port}`] })
    try {
      const admin = sl.admin()
      await admin.createTopic('corpus', { partitions: 2, retentionMs: 3_600_000 })
      await admin.listTopics()
      await admin.describeTopic('corpus')
      const plain = sl.producer({ acks: 1, lingerMs: 0 })
      await plain.send('corpus', { key: 'user-1', value: 'hello', headers: { trace: 'x' } })
      const idem = sl.producer({ acks: 'all', idempotent: true, compression: 'gzip', lingerMs: 2 })
      await idem.sendBatch(
        'corpus',
        Array.from({ length: 30 }, (_, i) => ({ key: `k${i % 5}`, value: `value-${i}` })),
      )
      await plain.close()
      await idem.close()
      const consumer = sl.consumer({
        groupId: 'g',
        autoOffsetReset: 'earliest',
        autoCommit: false,
        heartbeatIntervalMs: 100,
      })
      await consumer.subscribe(['corpus'])
      let seen = 0
      const done = new Promise<void>((resolve) => {
        void consumer.run({
          eachMessage: async () => {
            if (++seen >= 31) resolve()
          },
        })
      })
      await Promise.race([done, new Promise((r) => setTimeout(r, CAPTURE_MS_MAX))])
      await consumer.commit().catch(() => undefined)
      await consumer.close()
      await admin.describeGroup('g').catch(() => undefined)
      await admin.resetOffsets('g', { topic: 'corpus', to: 'earliest', dryRun: true }).catch(() => undefined)
      for await (const m of sl.replay({ topic: 'corpus', from: 'earliest', to: 'latest' })) void m
    } finally {
      await sl.close()
    }
  } finally {
    for (const s of sockets) s.destroy()
    await new Promise<void>((resolve) => proxy.close(() => resolve()))
    await server.close()
    await broker.close()
    forgetMemoryDataDir(dataDir)
    await rm(dataDir, { recursive: true, force: true })
  }
  const requests = cut(Buffer.concat(toServer))
  const responses = cut(Buffer.concat(toClient))
  const batches = builtBatches()
  for (const f of [...requests, ...responses]) {
    try {
      batchesIn(decodeBody(f.body), batches)
    } catch {
      // a body that is not msgpack (none expected) simply adds no batch
    }
  }
  return {
    requests: requests.map((f) => encodeFrame(f, f.body)),
    responses: responses.map((f) => encodeFrame(f, f.body)),
    batches,
  }
}

// A1: with auth on, nothing but the handshake is served before authentication. Every api key of the wire table
// (protocol/api-keys.ts, enumerated, not a hand-picked subset) is sent over raw sockets with a plausible body — one
// the same server serves when authenticated, checked at the end as a positive control — in five ways: as the first
// frame of a connection, all pipelined in one write, after a handshake without credentials, pipelined behind a
// handshake with wrong credentials, and after that failed handshake was answered. Each must get NOT_AUTHENTICATED or
// no answer with the connection closed; the broker behind the server (a real one, on a temp dir) must see no call at
// all, and its state (topics, log ends including `__consumer_offsets`, groups, members, committed offsets) must be
// unchanged. Run for both auth modes: a users file (scrypt) and a token.
import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, test } from 'vitest'
import type { BrokerApi } from '../../src/broker/api.js'
import { openBroker, type Broker } from '../../src/broker/broker.js'
import { silentLogger } from '../../src/broker/logger.js'
import { allApiSpecs, ApiKey, type ApiSpec } from '../../src/protocol/api-keys.js'
import { decodeBody } from '../../src/protocol/codec.js'
import { FLAG_ERROR, type Frame } from '../../src/protocol/frame.js'
import { addUser, type AuthOptions } from '../../src/server/auth.js'
import { startServer } from '../../src/server/server.js'
import { encodeRecordBatch } from '../../src/storage/record-batch.js'
import { RawClient } from '../wire-helpers.js'
import { reportFigures } from './settings.js'

const TOPIC = 'a1'
const DOOMED_TOPIC = 'a1-doomed'
const NEW_TOPIC = 'a1-new'
const GROUP = 'a1-group'
const DOOMED_GROUP = 'a1-doomed-group'
const JOIN_GROUP = 'a1-join'
const USER = 'alice'
const SECRET = 'alice-secret'
const TOKEN = 'a1-token-long-enough'

/** A plausible request body per api name: what an authenticated client would send to change or read state. */
function plausibleBodies(): Record<string, unknown> {
  const batch = encodeRecordBatch([{ key: Buffer.from('k'), value: Buffer.from('intruder'), timestamp: Date.now() }])
  return {
    info: null,
    createTopic: { name: NEW_TOPIC, partitions: 2 },
    alterTopicConfig: { name: TOPIC, config: { retentionBytes: 123_456_789 } },
    createPartitions: { name: TOPIC, count: 5 },
    deleteRecords: { topic: TOPIC, partitions: [{ partition: 0, offset: -1 }] },
    deleteTopic: { name: DOOMED_TOPIC },
    listTopics: { includeInternal: true },
    describeTopic: { name: TOPIC },
    produce: { topic: TOPIC, partition: 0, acks: 'all', batch },
    fetch: { partitions: [{ topic: TOPIC, partition: 0, offset: 0 }], maxBytes: 1 << 20, maxWaitMs: 0 },
    listOffsets: { topic: TOPIC, partitions: [0, 1], timestamp: -1 },
    initProducer: null,
    groupHeartbeat: {
      groupId: JOIN_GROUP,
      memberId: '',
      memberEpoch: 0,
      groupInstanceId: null,
      subscribedTopics: [TOPIC],
      subscribedTopicRegex: null,
      sessionTimeoutMs: 30_000,
      rebalanceTimeoutMs: 30_000,
      assignor: 'uniform',
      ownedPartitions: [],
      lastPollMsAgo: 0,
    },
    commitOffsets: {
      groupId: GROUP,
      memberId: '',
      memberEpoch: -1,
      offsets: [{ topic: TOPIC, partition: 0, offset: 3 }],
    },
    fetchOffsets: { groupId: GROUP, partitions: [{ topic: TOPIC, partitions: [0, 1] }] },
    listGroups: null,
    describeGroup: { groupId: GROUP },
    deleteGroup: { groupId: DOOMED_GROUP },
    resetOffsets: { groupId: GROUP, topic: TOPIC, to: 'earliest', dryRun: false },
  }
}

/** Every api of the table except the handshake, each with its body; fails if an api has no body here. */
function requestsToSend(): Array<{ spec: ApiSpec; body: unknown }> {
  const bodies = plausibleBodies()
  return allApiSpecs()
    .filter((spec) => spec.key !== ApiKey.HANDSHAKE)
    .map((spec) => {
      if (!Object.hasOwn(bodies, spec.name)) throw new Error(`A1 has no plausible body for api ${spec.name}`)
      return { spec, body: bodies[spec.name] }
    })
}

/** Wraps the broker so that every method call through the server is counted (and still served). */
function countingBroker(broker: Broker): { api: BrokerApi; calls: Map<string, number> } {
  const calls = new Map<string, number>()
  const api = new Proxy(broker, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver)
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        calls.set(String(prop), (calls.get(String(prop)) ?? 0) + 1)
        return (value as (...a: unknown[]) => unknown).apply(target, args)
      }
    },
  })
  return { api, calls }
}

/** What an observer with full access sees of the broker: read straight from it, not through the server. */
async function snapshot(broker: Broker): Promise<unknown> {
  const topics = (await broker.listTopics(true)).sort()
  const described = []
  for (const t of topics) {
    const d = await broker.describeTopic(t)
    described.push({
      name: d.name,
      config: d.config,
      partitions: d.partitions.map((p) => [p.logStartOffset, p.logEndOffset]),
    })
  }
  const groups = (await broker.listGroups()).sort((a, b) => a.groupId.localeCompare(b.groupId))
  const groupDetails = []
  for (const g of groups) {
    const d = await broker.describeGroup(g.groupId)
    groupDetails.push({
      groupId: d.groupId,
      state: d.state,
      epoch: d.groupEpoch,
      members: d.members.map((m) => m.memberId),
      offsets: d.offsets.map((o) => [o.topic, o.partition, o.committedOffset]),
      committed: await broker.fetchOffsets({ groupId: g.groupId }),
    })
  }
  return { topics: described, groups: groupDetails }
}

interface Outcome {
  /** Requests (non-handshake frames) sent. */
  sent: number
  /** Answered NOT_AUTHENTICATED. */
  notAuthenticated: number
  /** Not answered; the connection was closed. */
  unansweredClosed: number
  /** Answered with anything else: a request served (or at least decoded and dispatched). */
  served: number
  /** Connections left open at the end. */
  leftOpen: number
}

const emptyOutcome = (): Outcome => ({ sent: 0, notAuthenticated: 0, unansweredClosed: 0, served: 0, leftOpen: 0 })

/** Classifies the answers to the request frames sent with `correlationIds` once the connection has closed. */
function classify(client: RawClient, correlationIds: number[], outcome: Outcome, servedNames: string[]): void {
  const byId = new Map<number, Frame>(client.frames.map((f) => [f.correlationId, f]))
  for (const id of correlationIds) {
    outcome.sent++
    const frame = byId.get(id)
    if (frame === undefined) {
      outcome.unansweredClosed++
      continue
    }
    const body = decodeBody(frame.body) as { code?: unknown } | null
    if ((frame.flags & FLAG_ERROR) !== 0 && body?.code === 'NOT_AUTHENTICATED') outcome.notAuthenticated++
    else {
      outcome.served++
      servedNames.push(`api ${frame.apiKey}: ${JSON.stringify(body).slice(0, 120)}`)
    }
  }
}

/** Waits for the server to close the connection; one still open after `ms` counts as left open. */
async function awaitClose(client: RawClient, outcome: Outcome, ms = 10_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  await Promise.race([client.closedPromise, new Promise((r) => (timer = setTimeout(r, ms)))])
  clearTimeout(timer)
  if (!client.closed) outcome.leftOpen++
  client.destroy()
}

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  // Every cleanup runs (the temp dir is removed even when closing the server failed); the first failure is rethrown.
  const failures: unknown[] = []
  for (const c of cleanups.splice(0).reverse()) await c().catch((err: unknown) => failures.push(err))
  if (failures.length > 0) throw failures[0]
})

describe('A1: auth on, requests before authentication', () => {
  for (const mode of ['usersFile', 'token'] as const) {
    test(`${mode}: no api of the table is served before authentication, and the broker state is unchanged`, async () => {
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-a1-'))
      cleanups.push(() => fs.rm(dir, { recursive: true, force: true }))
      const broker = await openBroker({ dataDir: path.join(dir, 'data') }, { logger: silentLogger })
      cleanups.push(() => broker.close())
      let auth: AuthOptions
      let good: unknown
      let bad: unknown
      if (mode === 'usersFile') {
        const file = path.join(dir, 'users.json')
        await addUser(file, USER, SECRET)
        auth = { usersFile: file }
        good = { username: USER, password: SECRET }
        bad = { username: USER, password: 'not-the-secret' }
      } else {
        auth = { token: TOKEN }
        good = { token: TOKEN }
        bad = { token: 'a-wrong-token-of-length' }
      }
      const { api, calls } = countingBroker(broker)
      const server = await startServer(api, { host: '127.0.0.1', port: 0, auth, failedAuthDelayMs: 20 })
      cleanups.push(() => server.close())

      // State worth protecting: a topic with records, a topic to delete, groups with committed offsets.
      await broker.createTopic({ name: TOPIC, partitions: 2 })
      await broker.createTopic({ name: DOOMED_TOPIC, partitions: 1 })
      const batch = encodeRecordBatch([{ key: null, value: Buffer.from('v'), timestamp: Date.now() }])
      for (let i = 0; i < 5; i++) await broker.produce({ topic: TOPIC, partition: 0, acks: 'all', batch })
      await broker.commitOffsets({
        groupId: GROUP,
        memberId: '',
        memberEpoch: -1,
        offsets: [{ topic: TOPIC, partition: 0, offset: 5 }],
      })
      await broker.commitOffsets({
        groupId: DOOMED_GROUP,
        memberId: '',
        memberEpoch: -1,
        offsets: [{ topic: TOPIC, partition: 0, offset: 1 }],
      })
      const before = await snapshot(broker)
      calls.clear()

      const requests = requestsToSend()
      expect(requests.length).toBe(allApiSpecs().length - 1)
      const handshake = (credentials: unknown) => ({
        clientId: 'a1',
        protocolVersionMin: 1,
        protocolVersionMax: 1,
        auth: credentials,
      })
      const outcomes: Record<string, Outcome> = {}
      const servedNames: string[] = []
      const handshakeAnswers = { authenticationError: 0, other: 0 }
      let correlation = 1

      // (1) The request is the first frame of a fresh connection.
      outcomes.first = emptyOutcome()
      for (const { spec, body } of requests) {
        const c = await RawClient.connect(server.port)
        const id = correlation++
        c.send(spec.key, body, id, spec.versionMin)
        await awaitClose(c, outcomes.first)
        classify(c, [id], outcomes.first, servedNames)
      }

      // (2) All of them pipelined in one write on one connection.
      outcomes.pipelined = emptyOutcome()
      {
        const c = await RawClient.connect(server.port)
        const ids = requests.map(({ spec, body }) => {
          const id = correlation++
          c.send(spec.key, body, id, spec.versionMin)
          return id
        })
        await awaitClose(c, outcomes.pipelined)
        classify(c, ids, outcomes.pipelined, servedNames)
      }

      // (3) After a handshake without credentials; (4) pipelined behind a handshake with wrong credentials; (5) sent
      // once the failed handshake was answered (the server may have closed by then: no answer is the right outcome).
      const failedHandshakeRun = async (label: string, credentials: unknown, waitForAnswer: boolean) => {
        const outcome = (outcomes[label] = emptyOutcome())
        for (const { spec, body } of requests) {
          const c = await RawClient.connect(server.port)
          const hsId = correlation++
          c.send(ApiKey.HANDSHAKE, handshake(credentials), hsId)
          if (waitForAnswer) await c.waitFrames(1)
          const id = correlation++
          if (!c.closed) c.send(spec.key, body, id, spec.versionMin)
          await awaitClose(c, outcome)
          const hs = c.frames.find((f) => f.correlationId === hsId)
          const hsBody = hs === undefined ? null : (decodeBody(hs.body) as { code?: unknown } | null)
          if (hs !== undefined && (hs.flags & FLAG_ERROR) !== 0 && hsBody?.code === 'AUTHENTICATION')
            handshakeAnswers.authenticationError++
          else handshakeAnswers.other++
          classify(c, [id], outcome, servedNames)
        }
      }
      await failedHandshakeRun('noCredentials', null, true)
      await failedHandshakeRun('wrongPipelined', bad, false)
      await failedHandshakeRun('wrongThenRequest', bad, true)

      const after = await snapshot(broker)
      const brokerCalls = Object.fromEntries(calls)
      const totals = Object.values(outcomes).reduce((a, o) => ({
        sent: a.sent + o.sent,
        notAuthenticated: a.notAuthenticated + o.notAuthenticated,
        unansweredClosed: a.unansweredClosed + o.unansweredClosed,
        served: a.served + o.served,
        leftOpen: a.leftOpen + o.leftOpen,
      }))
      reportFigures(`A1 (${mode})`, { apis: requests.length, ...totals, handshakeAnswers, brokerCalls, outcomes })
      if (servedNames.length > 0) console.log(`[reliability] A1 served:\n  ${servedNames.join('\n  ')}`)

      expect(totals.served).toBe(0)
      expect(totals.leftOpen).toBe(0)
      expect(totals.notAuthenticated + totals.unansweredClosed).toBe(totals.sent)
      expect(totals.sent).toBe(5 * requests.length)
      // Every failed handshake was answered as such (not served, not silently dropped).
      expect(handshakeAnswers).toEqual({ authenticationError: 3 * requests.length, other: 0 })
      // The broker behind the server was never called, and nothing changed.
      expect(brokerCalls).toEqual({})
      expect(after).toEqual(before)

      // Positive control: authenticated, the same bodies are served, each by one broker call, so the refusals above
      // were the auth gate and not a malformed body.
      const c = await RawClient.connect(server.port)
      cleanups.push(async () => c.destroy())
      const hs = await c.request(ApiKey.HANDSHAKE, handshake(good), correlation++)
      expect(hs.frame.flags & FLAG_ERROR).toBe(0)
      calls.clear()
      const failures: string[] = []
      for (const { spec, body } of requests) {
        const res = await c.request(spec.key, body, correlation++)
        if ((res.frame.flags & FLAG_ERROR) !== 0) failures.push(`${spec.name}: ${JSON.stringify(res.body)}`)
      }
      expect(failures).toEqual([])
      expect(Object.keys(Object.fromEntries(calls)).sort()).toEqual(requests.map((r) => r.spec.name).sort())
      expect(await snapshot(broker)).not.toEqual(before)
    }, 120_000)
  }
})

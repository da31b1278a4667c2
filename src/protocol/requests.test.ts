// Server-boundary decoding of request bodies: well-formed bodies come back typed and unchanged, every malformed field
// is refused with an InvalidArgumentError whose message names the api and the field path, and the handshake's
// credentials are one of the two accepted shapes.
import { describe, expect, test } from 'vitest'
import { InvalidArgumentError } from '../errors.js'
import { decodeHandshake } from './api-keys.js'
import {
  decodeAlterTopicConfig,
  decodeCommitOffsets,
  decodeCreatePartitions,
  decodeCreateTopic,
  decodeDeleteRecords,
  decodeFetch,
  decodeGroupHeartbeat,
  decodeListOffsets,
  decodeResetOffsets,
} from './requests.js'

function refused(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError)
    return (err as Error).message
  }
  throw new Error('expected a refusal')
}

describe('request decoding', () => {
  test('well-formed bodies pass through unchanged', () => {
    const create = { name: 'orders', partitions: 6, config: { retentionMs: -1, flush: 'interval' as const } }
    expect(decodeCreateTopic(create)).toEqual(create)
    const fetch = {
      partitions: [{ topic: 't', partition: 3, offset: 2 ** 45, maxBytes: 100 }],
      maxBytes: 1000,
      maxWaitMs: 500,
    }
    expect(decodeFetch(fetch)).toEqual(fetch)
    expect(decodeFetch({ ...fetch, visibility: 'durable' })).toEqual({ ...fetch, visibility: 'durable' })
    expect(decodeCreatePartitions({ name: 'orders', count: 12 })).toEqual({ name: 'orders', count: 12 })
    const purge = { topic: 'orders', partitions: [{ partition: 1, offset: -1 }] }
    expect(decodeDeleteRecords(purge)).toEqual(purge)
    const alter = { name: 'orders', config: { retentionMs: 5, flush: 'os' as const, segmentBytes: null } }
    expect(decodeAlterTopicConfig(alter)).toEqual(alter)
    const list = { topic: 't', partitions: [0, 2], timestamp: -1, visibility: 'durable' as const }
    expect(decodeListOffsets(list)).toEqual(list)
    const commit = { groupId: 'g', memberId: 'm', memberEpoch: 4, offsets: [{ topic: 't', partition: 0, offset: 7 }] }
    expect(decodeCommitOffsets(commit)).toEqual(commit)
    for (const to of ['earliest', 'latest', { timestamp: 5 }, { offset: 9 }, { shiftBy: -4 }] as const) {
      expect(decodeResetOffsets({ groupId: 'g', topic: 't', to, dryRun: false }).to).toEqual(to)
    }
  })

  test('each malformed field is named with its path', () => {
    expect(refused(() => decodeCreateTopic({ name: 'o', partitions: 0 }))).toMatch(
      /^createTopic\.partitions: 0 is outside/,
    )
    expect(refused(() => decodeCreateTopic({ name: 7, partitions: 1 }))).toMatch(
      /^createTopic\.name: expected a string, got number/,
    )
    expect(refused(() => decodeCreateTopic({ name: 'o', partitions: 1, config: { segmentBytes: '1' } }))).toMatch(
      /^createTopic\.config\.segmentBytes: expected an integer/,
    )
    expect(
      refused(() =>
        decodeFetch({
          partitions: [
            { topic: 't', partition: 0, offset: 0 },
            { topic: 't', partition: 0 },
          ],
          maxBytes: 1,
          maxWaitMs: 0,
        }),
      ),
    ).toMatch(/^fetch\.partitions\[1\]\.offset: expected an integer, got undefined/)
    expect(refused(() => decodeFetch({ partitions: [], maxBytes: 1, maxWaitMs: 0, fence: { groupId: 'g' } }))).toMatch(
      /^fetch\.fence\.memberId/,
    )
    expect(refused(() => decodeFetch({ partitions: [], maxBytes: 1, maxWaitMs: 0, visibility: 'fsynced' }))).toMatch(
      /^fetch\.visibility: expected/,
    )
    expect(refused(() => decodeCreatePartitions({ name: 'o', count: 0 }))).toMatch(/^createPartitions\.count: 0/)
    expect(refused(() => decodeDeleteRecords({ topic: 'o', partitions: [{ partition: 0, offset: -2 }] }))).toMatch(
      /^deleteRecords\.partitions\[0\]\.offset: -2/,
    )
    expect(refused(() => decodeDeleteRecords({ topic: 'o' }))).toMatch(/^deleteRecords\.partitions/)
    expect(refused(() => decodeAlterTopicConfig({ name: 'o', config: { flush: 'later' } }))).toMatch(
      /^alterTopicConfig\.config\.flush: expected/,
    )
    expect(refused(() => decodeAlterTopicConfig({ name: 'o', config: { colour: null } }))).toMatch(/colour/)
    expect(refused(() => decodeAlterTopicConfig({ name: 'o' }))).toMatch(/^alterTopicConfig\.config/)
    expect(refused(() => decodeListOffsets({ topic: 't', timestamp: -1, visibility: 1 }))).toMatch(
      /^listOffsets\.visibility: expected/,
    )
    expect(
      refused(() =>
        decodeCommitOffsets({
          groupId: 'g',
          memberId: 'm',
          memberEpoch: 1,
          offsets: [{ topic: 't', partition: 0, offset: -1 }],
        }),
      ),
    ).toMatch(/^commitOffsets\.offsets\[0\]\.offset/)
    expect(
      refused(() => decodeResetOffsets({ groupId: 'g', topic: 't', to: { offset: 1, shiftBy: 2 }, dryRun: true })),
    ).toMatch(/^resetOffsets\.to/)
    expect(refused(() => decodeGroupHeartbeat({ groupId: 'g' }))).toMatch(/^groupHeartbeat\.memberId/)
  })

  test('arrays longer than their bound are refused before their items are checked', () => {
    const partitions = Array.from({ length: 200_000 }, () => 0)
    expect(refused(() => decodeFetch({ partitions, maxBytes: 1, maxWaitMs: 0 }))).toMatch(
      /fetch\.partitions: more than/,
    )
  })

  test('handshake credentials are a token or a username and password, never both', () => {
    expect(decodeHandshake({ clientId: 'c', auth: { token: 'tok' } }).auth).toEqual({ token: 'tok' })
    expect(decodeHandshake({ clientId: 'c', auth: { username: 'u', password: 'p' } }).auth).toEqual({
      username: 'u',
      password: 'p',
    })
    expect(decodeHandshake({ clientId: 'c', auth: null }).auth).toBeNull()
    expect(refused(() => decodeHandshake({ auth: { token: 't', username: 'u' } }))).toMatch(/not both/)
    expect(refused(() => decodeHandshake({ auth: { username: 'u' } }))).toMatch(/handshake\.auth\.password/)
    expect(refused(() => decodeHandshake({ protocolVersionMin: 3, protocolVersionMax: 2 }))).toMatch(
      /protocolVersionMin 3/,
    )
  })
})

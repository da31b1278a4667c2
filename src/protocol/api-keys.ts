// One api key per BrokerApi method, plus HANDSHAKE (version negotiation and credentials), with the version range the
// server speaks and how the server turns a decoded body into the broker call. A body is the method's request object,
// or `{ name }` / `{ groupId }` / `{ includeInternal }` / nil for methods whose argument is a scalar or nothing; the
// response body is the method's return value (nil for void). Keys are stable forever: add, never renumber.
import type { BrokerApi } from '../broker/api.js'
import type { ReadAllocator } from '../storage/api.js'
import {
  decodeAlterTopicConfig,
  decodeCommitOffsets,
  decodeCreatePartitions,
  decodeCreateTopic,
  decodeDeleteRecords,
  decodeFetch,
  decodeFetchOffsets,
  decodeGroupHeartbeat,
  decodeListOffsets,
  decodeListTopics,
  decodeProduce,
  decodeResetOffsets,
  emptyBody,
  nameBody,
} from './requests.js'
import { InvalidArgumentError } from '../errors.js'
import { object, optionalInteger, string, type Obj } from './validate.js'

export const ApiKey = Object.freeze({
  HANDSHAKE: 0,
  INFO: 1,
  CREATE_TOPIC: 2,
  DELETE_TOPIC: 3,
  LIST_TOPICS: 4,
  DESCRIBE_TOPIC: 5,
  PRODUCE: 6,
  FETCH: 7,
  LIST_OFFSETS: 8,
  INIT_PRODUCER: 9,
  GROUP_HEARTBEAT: 10,
  COMMIT_OFFSETS: 11,
  FETCH_OFFSETS: 12,
  LIST_GROUPS: 13,
  DESCRIBE_GROUP: 14,
  DELETE_GROUP: 15,
  RESET_OFFSETS: 16,
  ALTER_TOPIC_CONFIG: 17,
  CREATE_PARTITIONS: 18,
  DELETE_RECORDS: 19,
})
export type ApiKey = (typeof ApiKey)[keyof typeof ApiKey]

/** The protocol version range of the whole wire; each api also has its own range below. */
export const PROTOCOL_VERSION_MIN = 1
export const PROTOCOL_VERSION_MAX = 1

export interface ApiSpec {
  key: ApiKey
  name: string
  versionMin: number
  versionMax: number
  /**
   * Decodes and validates the body, calls the broker, returns the response value. `allocate`: where a fetch reads
   * records (the server reuses those buffers once the response is written).
   */
  serve: ((broker: BrokerApi, body: unknown, allocate?: ReadAllocator) => Promise<unknown>) | null
}

function spec(key: ApiKey, name: string, serve: ApiSpec['serve']): ApiSpec {
  return { key, name, versionMin: 0, versionMax: 0, serve }
}

const SPECS: readonly ApiSpec[] = [
  spec(ApiKey.HANDSHAKE, 'handshake', null),
  spec(ApiKey.INFO, 'info', (b, body) => (emptyBody(body, 'info'), b.info())),
  spec(ApiKey.CREATE_TOPIC, 'createTopic', (b, body) => b.createTopic(decodeCreateTopic(body))),
  spec(ApiKey.DELETE_TOPIC, 'deleteTopic', (b, body) => b.deleteTopic(nameBody(body, 'deleteTopic', 'name'))),
  spec(ApiKey.LIST_TOPICS, 'listTopics', (b, body) => b.listTopics(decodeListTopics(body))),
  spec(ApiKey.DESCRIBE_TOPIC, 'describeTopic', (b, body) => b.describeTopic(nameBody(body, 'describeTopic', 'name'))),
  spec(ApiKey.PRODUCE, 'produce', (b, body) => b.produce(decodeProduce(body))),
  spec(ApiKey.FETCH, 'fetch', (b, body, allocate) => b.fetch(decodeFetch(body), allocate)),
  spec(ApiKey.LIST_OFFSETS, 'listOffsets', (b, body) => b.listOffsets(decodeListOffsets(body))),
  spec(ApiKey.INIT_PRODUCER, 'initProducer', (b, body) => (emptyBody(body, 'initProducer'), b.initProducer())),
  spec(ApiKey.GROUP_HEARTBEAT, 'groupHeartbeat', (b, body) => b.groupHeartbeat(decodeGroupHeartbeat(body))),
  spec(ApiKey.COMMIT_OFFSETS, 'commitOffsets', (b, body) => b.commitOffsets(decodeCommitOffsets(body))),
  spec(ApiKey.FETCH_OFFSETS, 'fetchOffsets', (b, body) => b.fetchOffsets(decodeFetchOffsets(body))),
  spec(ApiKey.LIST_GROUPS, 'listGroups', (b, body) => (emptyBody(body, 'listGroups'), b.listGroups())),
  spec(ApiKey.DESCRIBE_GROUP, 'describeGroup', (b, body) =>
    b.describeGroup(nameBody(body, 'describeGroup', 'groupId')),
  ),
  spec(ApiKey.DELETE_GROUP, 'deleteGroup', (b, body) => b.deleteGroup(nameBody(body, 'deleteGroup', 'groupId'))),
  spec(ApiKey.RESET_OFFSETS, 'resetOffsets', (b, body) => b.resetOffsets(decodeResetOffsets(body))),
  spec(ApiKey.ALTER_TOPIC_CONFIG, 'alterTopicConfig', (b, body) => b.alterTopicConfig(decodeAlterTopicConfig(body))),
  spec(ApiKey.CREATE_PARTITIONS, 'createPartitions', (b, body) => b.createPartitions(decodeCreatePartitions(body))),
  spec(ApiKey.DELETE_RECORDS, 'deleteRecords', (b, body) => b.deleteRecords(decodeDeleteRecords(body))),
]

const BY_KEY: ReadonlyMap<number, ApiSpec> = new Map(SPECS.map((s) => [s.key, s]))

export function apiSpec(key: number): ApiSpec | undefined {
  return BY_KEY.get(key)
}

export function allApiSpecs(): readonly ApiSpec[] {
  return SPECS
}

/** `{ apiName: [versionMin, versionMax] }`, as the handshake response advertises it. */
export function apiVersionRanges(): Record<string, [number, number]> {
  return Object.fromEntries(SPECS.map((s) => [s.name, [s.versionMin, s.versionMax]]))
}

// ---- handshake ---------------------------------------------------------------------------------------------------

export type Credentials = { username: string; password: string } | { token: string }

export interface HandshakeRequest {
  clientId: string
  protocolVersionMin: number
  protocolVersionMax: number
  auth: Credentials | null
}

export interface HandshakeResponse {
  /** The protocol version both sides speak from now on. */
  protocolVersion: number
  nodeId: string
  serverVersion: string
  apiVersions: Record<string, [number, number]>
}

const SECRET_MAX = 4096

export function decodeHandshake(body: unknown): HandshakeRequest {
  const path = 'handshake'
  const o = object(body, path, ['clientId', 'protocolVersionMin', 'protocolVersionMax', 'auth'])
  const min = optionalInteger(o, 'protocolVersionMin', path, 0, 0xffff) ?? PROTOCOL_VERSION_MIN
  const max = optionalInteger(o, 'protocolVersionMax', path, 0, 0xffff) ?? min
  if (min > max) throw new InvalidArgumentError(`${path}: protocolVersionMin ${min} > protocolVersionMax ${max}`)
  let auth: Credentials | null = null
  if (o.auth !== undefined && o.auth !== null) {
    const a: Obj = object(o.auth, `${path}.auth`, ['username', 'password', 'token'])
    if (a.token !== undefined) {
      if (a.username !== undefined || a.password !== undefined) {
        throw new InvalidArgumentError(`${path}.auth: give either a token or a username and password, not both`)
      }
      auth = { token: string(a, 'token', `${path}.auth`, SECRET_MAX) }
    } else {
      auth = {
        username: string(a, 'username', `${path}.auth`, 256),
        password: string(a, 'password', `${path}.auth`, SECRET_MAX),
      }
    }
  }
  return {
    clientId: o.clientId === undefined ? '' : string(o, 'clientId', path, 256),
    protocolVersionMin: min,
    protocolVersionMax: max,
    auth,
  }
}

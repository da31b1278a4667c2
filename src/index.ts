// The public API of the `sluice` package, export by export. Everything a user of the SDK may name lives here: the
// Sluice entry point, the clients and their option/result types, every error class, the codecs, the partitioner
// (murmur2 / partitionForKey, Kafka-compatible) and the record-batch codec for tools that handle raw batches.

// entry point
export { Sluice } from './sluice.js'
export type { SluiceOpenOptions, SluiceConnectOptions } from './sluice.js'

// clients
export { Admin } from './client/admin.js'
export type {
  AlterTopicConfigOptions,
  CreateTopicOptions,
  ResetOffsetsOptions,
  ResetPlanEntry,
} from './client/admin.js'
export { Producer, SendBatchResult } from './client/producer.js'
export type { ProducerMessage, RecordMetadata, HeaderValue } from './client/producer.js'
export { Consumer } from './client/consumer.js'
export type {
  Message,
  EachMessagePayload,
  EachBatchPayload,
  Batch,
  RunOptions,
  AssignPartition,
  PartitionSelector,
  ErrorContext,
  ConsumerEvents,
} from './client/consumer.js'
export { Replay } from './client/replay.js'
export type { ReplayOptions, ReplayBound } from './client/replay.js'

// options and defaults
export {
  resolveProducerConfig,
  resolveConsumerConfig,
  PRODUCER_DEFAULTS,
  CONSUMER_DEFAULTS,
} from './client/client-config.js'
export type {
  ProducerOptions,
  ProducerConfig,
  ConsumerOptions,
  ConsumerConfig,
  OffsetReset,
  PartitionsListener,
  TopicPartition,
} from './client/client-config.js'
export type { FetchVisibility } from './broker/api.js'
export { LIMITS, DEFAULTS } from './config/limits.js'

// codecs
export { bufferCodec, stringCodec, jsonCodec, msgpackCodec } from './client/codecs.js'
export type { Codec, CodecName, CodecOption, Decoded, Encodable } from './client/codecs.js'

// transports and the broker contract
export type { Transport } from './client/transport.js'
export { InProcessTransport } from './client/in-process-transport.js'
export { TcpTransport, connectTcpTransport } from './client/tcp-transport.js'
export type { TcpTransportOptions } from './client/tcp-transport.js'
export { openBroker, Broker } from './broker/broker.js'
export type { BrokerConfigInput } from './broker/broker-config.js'
export { startServer } from './server/server.js'
export type { ServerOptions, SluiceServer } from './server/server.js'
export type {
  Acks,
  BrokerApi,
  BrokerInfo,
  TopicConfig,
  TopicDescription,
  PartitionDescription,
  GroupDescription,
  GroupState,
  ResetTarget,
  CommittedOffset,
} from './broker/api.js'
export type { FlushPolicy } from './storage/api.js'

// errors
export {
  SluiceError,
  InvalidArgumentError,
  InvalidConfigError,
  RecordTooLargeError,
  InvalidTimestampError,
  RecordDecodeError,
  UnsupportedVersionError,
  UnknownTopicError,
  TopicExistsError,
  UnknownPartitionError,
  OffsetOutOfRangeError,
  NoCommittedOffsetError,
  ClosedError,
  TimeoutError,
  UnknownGroupError,
  UnknownMemberError,
  FencedMemberEpochError,
  NotOwnerError,
  RebalanceInProgressError,
  GroupNotEmptyError,
  DuplicateSequenceError,
  OutOfOrderSequenceError,
  InvalidProducerEpochError,
  AuthenticationError,
  NotAuthenticatedError,
  StorageError,
  DiskFullError,
  CorruptRecordError,
  PartitionOfflineError,
  DataDirLockedError,
  FrameTooLargeError,
  ProtocolError,
  ConnectionError,
  InternalError,
  errorFromWire,
  errorToWire,
} from './errors.js'
export type { ErrorCode, WireError } from './errors.js'

// partitioning and record batches
export { murmur2, partitionForKey } from './util/murmur2.js'
export {
  encodeRecordBatch,
  decodeRecords,
  validateBatch,
  readBatchHeader,
  iterateBatches,
} from './storage/record-batch.js'
export type {
  RecordInput,
  DecodedRecord,
  RecordHeader,
  BatchHeader,
  Compression,
  EncodeBatchOptions,
} from './storage/record-batch.js'

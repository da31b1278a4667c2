// Errors cross the wire with their class's own fields: errorToWire carries them as details and errorFromWire rebuilds
// the same class with the same values; details of the wrong type or size (a hostile or older peer) give neutral
// values or are left out, never a throw.
import { expect, test } from 'vitest'
import {
  AuthenticationError,
  errorFromWire,
  errorToWire,
  InvalidConfigError,
  OffsetOutOfRangeError,
  UnknownPartitionError,
  UnknownTopicError,
  type WireError,
} from './errors.js'

test('a typed error round-trips with its fields', () => {
  for (const err of [
    new UnknownTopicError('orders'),
    new UnknownPartitionError('orders', 7, 3),
    new OffsetOutOfRangeError(100, 3, 7, 'orders/0', { topic: 'orders', partition: 0 }),
    new InvalidConfigError(['segmentBytes must be ≥ 1024', 'flushIntervalMs must be ≥ 1'], 'topic config'),
    new AuthenticationError('too many authentication attempts in progress', { busy: true }), // retriable
    new AuthenticationError('invalid username or password'),
  ]) {
    const back = errorFromWire(structuredClone(errorToWire(err)))
    expect(back).toBeInstanceOf(err.constructor)
    expect({ ...back, message: back.message }).toEqual({ ...err, message: err.message })
  }
})

test('hostile details: wrong types give neutral values; oversized ones are not sent', () => {
  const wire = (details: unknown): WireError => ({ code: 'OFFSET_OUT_OF_RANGE', message: 'm', details }) as WireError
  expect(errorFromWire(wire({ offset: 'x', logStartOffset: null, logEndOffset: Infinity }))).toMatchObject({
    offset: -1,
    logStartOffset: -1,
    logEndOffset: -1,
    message: 'm',
  })
  for (const details of [null, 5, 'text', [1, 2]]) expect(errorFromWire(wire(details))).toMatchObject({ offset: -1 })
  const topic = errorFromWire({ code: 'UNKNOWN_TOPIC', message: 'm', details: { topic: 42 } } as unknown as WireError)
  expect(topic).toMatchObject({ topic: '' })
  const config = errorFromWire({
    code: 'INVALID_CONFIG',
    message: 'invalid',
    details: { problems: [1, 2] },
  } as unknown as WireError)
  expect((config as InvalidConfigError).problems).toEqual(['invalid'])
  // A field too long to be a detail stays in the message only.
  const long = errorToWire(new UnknownTopicError('t'.repeat(5000)))
  expect(long.details).toBeUndefined()
})

// Broker address parsing and option checking of the TCP transport, without a socket: host:port and [v6]:port are
// accepted, anything else is refused with every problem listed at once.
import { describe, expect, test } from 'vitest'
import { InvalidConfigError } from '../errors.js'
import { connectTcpTransport, parseBrokerAddress } from './tcp-transport.js'

describe('tcp transport options', () => {
  test('host:port, hostnames and bracketed IPv6 addresses parse', () => {
    expect(parseBrokerAddress('127.0.0.1:7171')).toEqual({ host: '127.0.0.1', port: 7171 })
    expect(parseBrokerAddress('broker-1.internal:9')).toEqual({ host: 'broker-1.internal', port: 9 })
    expect(parseBrokerAddress('[::1]:7171')).toEqual({ host: '::1', port: 7171 })
  })

  test('addresses without a valid port are refused', () => {
    for (const bad of ['localhost', ':7171', 'h:0', 'h:65536', '::1:7171', 'h:12x']) {
      expect(() => parseBrokerAddress(bad), bad).toThrow(InvalidConfigError)
    }
  })

  test('every bad option is reported in one InvalidConfigError', async () => {
    const err = await connectTcpTransport({ brokers: [], requestTimeoutMs: -1, inFlightRequestsMax: 0 }).catch(
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(InvalidConfigError)
    expect((err as InvalidConfigError).problems).toEqual([
      'brokers must list at least one',
      'requestTimeoutMs must be an integer in [1, 2147483647]',
      'inFlightRequestsMax must be an integer in [1, 65536]',
    ])
  })
})

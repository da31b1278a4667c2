// What the SDK talks to: the broker's request/response contract plus `close()`. The in-process transport calls a
// Broker directly (embedded mode); the TCP transport frames the same calls over a socket (remote mode). Producer,
// consumer, admin and replay see only this type, so they behave the same in both modes.
import type { BrokerApi } from '../broker/api.js'

export type Transport = BrokerApi & { close(): Promise<void> }

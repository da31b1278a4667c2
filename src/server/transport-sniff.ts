// A broker listens for one kind of client: TLS or plaintext. A client of the other kind used to be cut off with no
// word (a TLS server drops bytes that are not a TLS record), so the SDK took it for a broker restarting and retried
// until its connect timeout, then reported "connection lost". The first byte tells the two apart: every TLS
// connection starts with a handshake record (content type 22), and a Sluice frame starts with its big-endian size,
// whose first byte is 0 for any frame up to 16 MiB (a handshake is far smaller). So a TLS listener routes a
// connection whose first byte is 22 to the TLS server, and answers a plaintext frame with an error response the SDK
// reads as a non-retriable ProtocolError naming the fix. A plaintext listener that receives a TLS ClientHello cannot
// answer in TLS; it answers in plaintext (see Connection), which the client's TLS stack reports at once. The same
// first-frame answer tells a client past connectionsMax why it is refused (refuseBusy).
import type * as net from 'node:net'
import type * as tls from 'node:tls'
import { ConnectionError, errorToWire, ProtocolError } from '../errors.js'
import { encodeBody } from '../protocol/codec.js'
import { encodeFrameHeader, FLAG_ERROR, FLAG_RESPONSE, FRAME_OVERHEAD_BYTES } from '../protocol/frame.js'

/** The first byte of every TLS connection: a handshake record (RFC 8446 §5.1, content type 22). */
export const TLS_HANDSHAKE_RECORD = 0x16

export const PLAINTEXT_ON_TLS_MESSAGE =
  'this broker serves TLS only: connect with TLS (SDK: tls: true, or tls: { ca } for a self-signed certificate; ' +
  'CLI: --tls, --tls-ca <file>)'

/**
 * Hands `socket` to `tlsServer` once its first bytes show a TLS handshake; answers a plaintext first frame with a
 * ProtocolError and closes. Sockets waiting for their first bytes are in `pending` (for close()) and are destroyed
 * after `timeoutMs`.
 */
export function routeTlsOrRefuse(
  socket: net.Socket,
  tlsServer: tls.Server,
  pending: Set<net.Socket>,
  timeoutMs: number,
  onPlaintext: (remote: string) => void,
): void {
  pending.add(socket)
  const onError = (): void => {} // 'close' follows; the socket is only ours until routed
  const timer = setTimeout(() => socket.destroy(), timeoutMs)
  socket.on('error', onError)
  socket.once('close', () => {
    clearTimeout(timer)
    pending.delete(socket)
  })
  socket.once('data', (chunk: Buffer) => {
    clearTimeout(timer)
    pending.delete(socket)
    socket.pause()
    socket.off('error', onError)
    if (chunk[0] === TLS_HANDSHAKE_RECORD) {
      socket.unshift(chunk)
      tlsServer.emit('connection', socket)
      return
    }
    onPlaintext(`${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`)
    socket.on('error', onError)
    answerWithError(socket, chunk, new ProtocolError(PLAINTEXT_ON_TLS_MESSAGE), timeoutMs)
  })
}

/**
 * Answers the frame that starts `chunk` (a client's first bytes: its handshake) with `error` as an error response,
 * under the frame's own correlation id so the client matches it to its request, then ends the connection (destroyed
 * after `timeoutMs` if the client does not close its side). Bytes too few for a frame header: just closed.
 */
export function answerWithError(socket: net.Socket, chunk: Buffer, error: Error, timeoutMs: number): void {
  if (chunk.length < FRAME_OVERHEAD_BYTES) {
    socket.destroy()
    return
  }
  socket.end(errorFrame(chunk.readUInt16BE(4), chunk.readUInt32BE(8), error))
  setTimeout(() => socket.destroy(), timeoutMs).unref()
}

/** A whole error response frame: `error` as the answer to request `correlationId` of api `apiKey`. */
export function errorFrame(apiKey: number, correlationId: number, error: Error): Buffer {
  const body = encodeBody(errorToWire(error))
  const header = encodeFrameHeader(
    { apiKey, apiVersion: 0, correlationId, flags: FLAG_RESPONSE | FLAG_ERROR },
    body.length,
  )
  return Buffer.concat([header, body])
}

/**
 * A connection past connectionsMax: its first frame is answered with a retriable ConnectionError saying so (the SDK
 * retries with backoff until its connect timeout, whose message then names the cause), instead of Node closing it
 * without a word. Waits at most `timeoutMs` for that frame.
 */
export function refuseBusy(socket: net.Socket, connectionsMax: number, timeoutMs: number): void {
  const timer = setTimeout(() => socket.destroy(), timeoutMs)
  socket.on('error', () => {}) // 'close' follows
  socket.once('close', () => clearTimeout(timer))
  socket.once('data', (chunk: Buffer) => {
    clearTimeout(timer)
    socket.pause()
    const error = new ConnectionError(
      `the broker is at its connection limit (connectionsMax ${connectionsMax}): try again later, close idle ` +
        'clients, or raise it (sluice serve --connections-max)',
    )
    answerWithError(socket, chunk, error, timeoutMs)
  })
}

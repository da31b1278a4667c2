// A broker listens for one kind of client: TLS or plaintext. A client of the other kind used to be cut off with no
// word (a TLS server drops bytes that are not a TLS record), so the SDK took it for a broker restarting and retried
// until its connect timeout, then reported "connection lost". The first byte tells the two apart: every TLS
// connection starts with a handshake record (content type 22), and a Sluice frame starts with its big-endian size,
// whose first byte is 0 for any frame up to 16 MiB (a handshake is far smaller). So a TLS listener routes a
// connection whose first byte is 22 to the TLS server, and answers a plaintext frame with an error response the SDK
// reads as a non-retriable ProtocolError naming the fix. A plaintext listener that receives a TLS ClientHello cannot
// answer in TLS; it logs it (see Connection), and the client's TLS stack reports the failed handshake.
import type * as net from 'node:net'
import type * as tls from 'node:tls'
import { errorToWire, ProtocolError } from '../errors.js'
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
    if (chunk.length < FRAME_OVERHEAD_BYTES) {
      socket.destroy()
      return
    }
    // Answer the frame's correlation id, so the client matches the error to its handshake.
    const body = encodeBody(errorToWire(new ProtocolError(PLAINTEXT_ON_TLS_MESSAGE)))
    const header = encodeFrameHeader(
      {
        apiKey: chunk.readUInt16BE(4),
        apiVersion: 0,
        correlationId: chunk.readUInt32BE(8),
        flags: FLAG_RESPONSE | FLAG_ERROR,
      },
      body.length,
    )
    socket.end(Buffer.concat([header, body]))
    setTimeout(() => socket.destroy(), timeoutMs).unref()
  })
}

// The raw loopback ceiling's server, run as a child process of tcp-produce-consume.bench.ts so that it has its own
// event loop as the broker and redis-server have: reads frames and answers each with a 16-byte frame (the ack), nothing
// else. Prints "listening on 127.0.0.1:<port>" once ready; the parent stops it with a signal.
import net from 'node:net'
import { encodeFrame, FrameDecoder } from '../../src/protocol/frame.js'

const ACK = Buffer.alloc(16)

const server = net.createServer((socket) => {
  socket.setNoDelay(true)
  const decoder = new FrameDecoder()
  socket.on('data', (chunk: Buffer) => {
    decoder.push(chunk)
    for (let f = decoder.next(); f !== null; f = decoder.next()) socket.write(encodeFrame({ ...f, flags: 1 }, ACK))
  })
  socket.on('error', () => {})
})
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as net.AddressInfo
  process.stdout.write(`listening on 127.0.0.1:${port}\n`)
})

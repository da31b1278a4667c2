import { createRequire } from 'node:module'
const require = createRequire(import.meta.url)
const { crc32c } = require('@node-rs/crc32')
const CRC32C = require('crc-32/crc32c')
for (const size of [64,128, 256, 512, 1024, 2048, 4096, 8192, 16384, 65536, 1<<20]) {
  const buf = Buffer.alloc(size + 100, 7).subarray(21)
  const iters = Math.max(50, Math.floor(2e8/ size))
  let best = {}
  for (const [name, f] of [['js', b=>CRC32C.buf(b,0)>>>0], ['native', b=>crc32c(b)]]) {
    let t0 = process.hrtime.bigint(); let x=0
    for (let i=0;i<iters;i++) x ^= f(buf)
    let dt = Number(process.hrtime.bigint()-t0)
    t0 = process.hrtime.bigint()
    for (let i=0;i<iters;i++) x ^= f(buf)
    dt = Number(process.hrtime.bigint()-t0)
    best[name] = (size*iters/dt).toFixed(2)
  }
  console.log(size, 'GB/s js', best.js, 'native', best.native, crc32c(buf) === (CRC32C.buf(buf,0)>>>0))
}

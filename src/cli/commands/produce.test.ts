// readLines splits a byte stream into lines however its chunks fall (CRLF and a last line without a newline
// included), and refuses a line longer than its bound as soon as the bound is passed, naming the line.
import { expect, test } from 'vitest'
import { readLines } from './produce.js'

async function* chunks(...parts: string[]): AsyncGenerator<Buffer> {
  for (const p of parts) yield Buffer.from(p)
}

async function collect(source: AsyncIterable<Buffer>, max?: number): Promise<string[]> {
  const out: string[] = []
  for await (const line of readLines(source, max)) out.push(line.toString())
  return out
}

test('lines across chunk boundaries, CRLF, empty lines and a last line without a newline', async () => {
  expect(await collect(chunks('a', 'b\nc\r', '\n\n', 'd\ne'))).toEqual(['ab', 'c', '', 'd', 'e'])
  expect(await collect(chunks(''))).toEqual([])
  expect(await collect(chunks('x\n'))).toEqual(['x'])
})

test('a line over the bound throws naming it, before the rest of it is read', async () => {
  let pulled = 0
  async function* endless(): AsyncGenerator<Buffer> {
    yield Buffer.from('ok\n')
    for (;;) {
      pulled++
      yield Buffer.alloc(10, 0x61)
    }
  }
  await expect(collect(endless(), 25)).rejects.toThrow('line 2 is longer than 25 bytes')
  expect(pulled).toBe(3)
})

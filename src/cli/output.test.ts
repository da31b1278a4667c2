// LineWriter: lines reach the stream in order, gathered into one write per turn of the event loop or per 64 KiB.
import { expect, test } from 'vitest'
import { LineWriter } from './output.js'

function sink(): { writes: string[]; write(text: string): boolean } {
  const writes: string[] = []
  return { writes, write: (text: string) => writes.push(text) > 0 }
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

test('lines of one turn go out in one write on the next turn; flush() writes what is left, and nothing when empty', async () => {
  const out = sink()
  const w = new LineWriter(out)
  w.line('a')
  w.line('b')
  w.line('')
  expect(out.writes).toEqual([])
  await turn()
  expect(out.writes).toEqual(['a\nb\n\n'])
  w.line('c')
  w.flush()
  expect(out.writes).toEqual(['a\nb\n\n', 'c\n'])
  w.flush()
  await turn()
  expect(out.writes).toHaveLength(2)
})

test('a turn with more than 64 KiB of lines writes in chunks of about 64 KiB, every line once and in order', () => {
  const out = sink()
  const w = new LineWriter(out)
  const lines = Array.from({ length: 2000 }, (_, i) => `${i}`.padStart(99, '.'))
  for (const l of lines) w.line(l)
  w.flush()
  expect(out.writes.join('')).toBe(lines.join('\n') + '\n')
  expect(out.writes.length).toBe(Math.ceil((2000 * 100) / (64 * 1024)))
  for (const chunk of out.writes.slice(0, -1)) expect(chunk.length).toBeGreaterThanOrEqual(64 * 1024)
  for (const chunk of out.writes) expect(chunk.length).toBeLessThan(64 * 1024 + 100)
})

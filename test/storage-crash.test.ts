// Crash test: a child process appends with flush 'sync' and prints each acknowledged offset; it is killed with SIGKILL
// mid-stream (twice, the second time after recovering from the first). Reopened here, every acknowledged offset must
// be readable with its value, offsets have no gap, and appends continue.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect, test } from 'vitest'
import { logConfig, makeBatch, readAll } from '../src/testing/storage-data.js'
import { openStorage } from '../src/storage/storage.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const ACKS_BEFORE_KILL = 400

/** Runs the writer until it has acknowledged `acks` offsets, kills it with SIGKILL, returns what it acknowledged. */
async function runAndKill(dataDir: string, acks: number): Promise<{ start: number; acked: number[] }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(root, 'test/fixtures/storage-crash-writer.ts'), dataDir],
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  const acked: number[] = []
  let start = -1
  let buffered = ''
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString()
      const lines = buffered.split('\n')
      buffered = lines.pop()!
      for (const line of lines) {
        if (line.startsWith('start ')) start = Number(line.slice(6))
        else acked.push(Number(line))
      }
      if (acked.length >= acks && child.exitCode === null && !child.killed) {
        child.kill('SIGKILL')
      }
    })
    child.on('exit', (code, signal) =>
      signal === 'SIGKILL' ? resolve() : reject(new Error(`writer exited ${code} ${signal}`)),
    )
  })
  // lines already in the pipe when the kill landed were acknowledged too
  if (buffered.length > 0) acked.push(Number(buffered))
  return { start, acked }
}

test('every offset acknowledged before SIGKILL is readable with its value, without gaps, and appends continue', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-crash-'))
  try {
    const first = await runAndKill(dataDir, ACKS_BEFORE_KILL)
    expect(first.start).toBe(0)
    const second = await runAndKill(dataDir, ACKS_BEFORE_KILL)
    expect(second.start).toBeGreaterThan(Math.max(...first.acked))
    const storage = await openStorage(dataDir)
    expect(storage.wasCleanShutdown).toBe(false)
    const log = await storage.openLog(
      'topics/crash/0',
      logConfig({ segmentBytes: 16 * 1024, indexIntervalBytes: 1024 }),
    )
    expect(log.offlineError).toBeNull()
    const records = readAll(log, 0)
    expect(records.map((r) => r.offset)).toEqual(Array.from({ length: log.logEndOffset }, (_, i) => i))
    for (const r of records) expect(r.value).toBe(`value-${r.offset}`)
    for (const offset of [...first.acked, ...second.acked]) expect(offset).toBeLessThan(log.logEndOffset)
    expect(log.segmentCount).toBeGreaterThan(1)
    const next = log.append(makeBatch('after'))
    expect(next.baseOffset).toBe(records.length)
    await log.waitDurable(next.lastOffset)
    await storage.close()
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true })
  }
})

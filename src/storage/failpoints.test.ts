// Unit tests of the failpoint registry: parsing of SLUICE_FAILPOINTS (typos refused), hit counting, and the fsynced
// hit log. The real SIGKILL of an armed process is exercised by test/reliability/d2-failpoints.test.ts.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, test } from 'vitest'
import { InvalidConfigError } from '../errors.js'
import {
  FAILPOINT_NAMES,
  FailpointRegistry,
  failpoint,
  failpointsFromEnv,
  logFailpointHit,
  parseFailpoints,
  type FailpointName,
} from './failpoints.js'

function parseProblems(text: string): readonly string[] {
  try {
    parseFailpoints(text)
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidConfigError)
    return (err as InvalidConfigError).problems
  }
  throw new Error(`${text} was accepted`)
}

describe('parseFailpoints', () => {
  test('names with and without a hit number parse; the default hit is the first', () => {
    expect(parseFailpoints('write-fsync:7, recovery,fsync-ack:1')).toEqual([
      { name: 'write-fsync', hitNumber: 7 },
      { name: 'recovery', hitNumber: 1 },
      { name: 'fsync-ack', hitNumber: 1 },
    ])
  })

  test('every known name parses', () => {
    expect(parseFailpoints(FAILPOINT_NAMES.join(',')).map((s) => s.name)).toEqual([...FAILPOINT_NAMES])
  })

  test('an unknown name (a typo) is refused, naming it and the known ones', () => {
    const problems = parseProblems('write-fsync:2,write_fsync:3')
    expect(problems[0]).toBe('unknown failpoint "write_fsync"')
    expect(problems.at(-1)).toContain('checkpoint-rename')
  })

  test.each([
    'recovery:0',
    'recovery:-1',
    'recovery:1.5',
    'recovery:x',
    'recovery:',
    'recovery:1:2',
    'recovery:2000000000',
  ])('a bad hit number is refused: %s', (text) => {
    expect(parseProblems(text)[0]).toContain('hit number')
  })

  test('empty entries and a point named twice are refused, every problem listed at once', () => {
    expect(parseProblems('index-write,,index-write:3,nope')).toEqual([
      'an empty entry in "index-write,,index-write:3,nope"',
      'failpoint index-write is named twice',
      'unknown failpoint "nope"',
      expect.stringContaining('known failpoints'),
    ])
  })
})

describe('FailpointRegistry', () => {
  test('fires exactly once, on the armed hit of the armed point; other points are ignored', () => {
    const fired: Array<[FailpointName, number]> = []
    const registry = new FailpointRegistry(parseFailpoints('fsync-ack:3'), (name, hit) => fired.push([name, hit]))
    for (let i = 0; i < 5; i++) {
      registry.hit('write-fsync')
      registry.hit('fsync-ack')
      if (i < 2) expect(fired).toEqual([])
    }
    expect(fired).toEqual([['fsync-ack', 3]])
    expect(registry.hits('fsync-ack')).toBe(5)
    expect(registry.hits('write-fsync')).toBe(0)
  })

  test('without the environment variable nothing is armed', () => {
    expect(failpointsFromEnv({})).toBeNull()
    expect(failpointsFromEnv({ SLUICE_FAILPOINTS: '' })).toBeNull()
    // this test process has no failpoints armed: every point is a no-op
    for (const name of FAILPOINT_NAMES) failpoint(name)
  })

  test('an unknown name in the environment is refused when read', () => {
    expect(() => failpointsFromEnv({ SLUICE_FAILPOINTS: 'roll-dirsinc:2' })).toThrow(/unknown failpoint "roll-dirsinc"/)
  })
})

test('a hit is appended to the log file as "name hitNumber pid", one line per hit', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-failpoints-'))
  try {
    const file = path.join(dir, 'hits.log')
    logFailpointHit(file, 'roll-dirsync', 4)
    logFailpointHit(file, 'recovery', 1)
    expect(fs.readFileSync(file, 'utf8')).toBe(`roll-dirsync 4 ${process.pid}\nrecovery 1 ${process.pid}\n`)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

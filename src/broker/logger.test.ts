import { describe, expect, test } from 'vitest'
import { UnknownTopicError } from '../errors.js'
import { createJsonLogger, createMemoryLogger, toLogger } from './logger.js'

describe('logger', () => {
  test('the JSON logger writes one parseable line per entry at or above its level, errors flattened', () => {
    const lines: string[] = []
    const logger = createJsonLogger({ level: 'info', write: (l) => lines.push(l), base: { nodeId: 'n1' } })
    logger.debug('hidden')
    logger.info('topic created', { topic: 't' })
    logger.error('failed', { error: new UnknownTopicError('x'), big: 10n })
    expect(lines).toHaveLength(2)
    expect(lines.every((l) => l.endsWith('\n'))).toBe(true)
    const [created, failed] = lines.map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(created).toMatchObject({ level: 'info', msg: 'topic created', topic: 't', nodeId: 'n1' })
    expect(typeof created!.time).toBe('string')
    expect(failed).toMatchObject({
      level: 'error',
      error: { name: 'UnknownTopicError', code: 'UNKNOWN_TOPIC', message: 'unknown topic "x"' },
      big: '10',
    })
  })

  test('a circular field does not throw; the line says the fields were unserialisable', () => {
    const lines: string[] = []
    const circular: Record<string, unknown> = {}
    circular.self = circular
    createJsonLogger({ write: (l) => lines.push(l) }).warn('odd', { circular })
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'warn', msg: 'odd', fieldsError: 'unserialisable fields' })
  })

  test('the memory logger keeps only its newest entries; toLogger adds a no-op debug to a plain logger', () => {
    const memory = createMemoryLogger(2)
    memory.info('a')
    memory.warn('b')
    memory.error('c')
    expect(memory.entries.map((e) => e.msg)).toEqual(['b', 'c'])
    const seen: string[] = []
    const lifted = toLogger({ info: (m) => seen.push(m), warn: (m) => seen.push(m), error: (m) => seen.push(m) })
    lifted.debug('dropped')
    lifted.info('kept')
    expect(seen).toEqual(['kept'])
  })
})

import { describe, expect, test } from 'vitest'
import { InvalidArgumentError } from '../errors.js'
import { isInternalTopic, validateTopicName, validateUserTopicName } from './topic-name.js'

describe('validateTopicName', () => {
  test('accepts every legal character class and the length bounds 1 and 249', () => {
    for (const name of ['a', 'orders', 'Orders.v2_test-1', 'x'.repeat(249), '...', '_a', '-']) {
      expect(validateTopicName(name)).toBe(name)
    }
  })

  test('refuses each bad name with an InvalidArgumentError naming the problem', () => {
    const cases: Array<[unknown, RegExp]> = [
      ['', /empty/],
      ['x'.repeat(250), /250 characters.*at most 249/],
      ['.', /may not be "\."/],
      ['..', /may not be "\.\."/],
      ['a/b', /illegal character.*"\/"/],
      ['a b', /illegal character.*" "/],
      ['../etc', /illegal character.*"\/"/],
      ['é', /illegal character.*"é"/],
      ['a\u0000b', /illegal character/],
      [42, /must be a string/],
    ]
    for (const [name, message] of cases) {
      let caught: unknown
      try {
        validateTopicName(name)
      } catch (err) {
        caught = err
      }
      expect(caught, String(name)).toBeInstanceOf(InvalidArgumentError)
      expect((caught as Error).message).toMatch(message)
    }
  })

  test('names with a "__" prefix are internal and refused for users only', () => {
    expect(isInternalTopic('__consumer_offsets')).toBe(true)
    expect(isInternalTopic('_single')).toBe(false)
    expect(validateTopicName('__consumer_offsets')).toBe('__consumer_offsets')
    expect(() => validateUserTopicName('__mine')).toThrow(/reserved for internal topics/)
    expect(validateUserTopicName('mine')).toBe('mine')
  })
})

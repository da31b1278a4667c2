// Every error class the SDK can throw is exported from the package's entry point, so an app can `instanceof` it.
import { expect, test } from 'vitest'
import * as errors from './errors.js'
import * as pkg from './index.js'

test('every SluiceError subclass of errors.ts is exported by index.ts', () => {
  const classes = Object.entries(errors).filter(
    ([, v]) => typeof v === 'function' && (v === errors.SluiceError || v.prototype instanceof errors.SluiceError),
  )
  expect(classes.length).toBeGreaterThan(30)
  const missing = classes.filter(([name, v]) => (pkg as Record<string, unknown>)[name] !== v).map(([name]) => name)
  expect(missing).toEqual([])
})

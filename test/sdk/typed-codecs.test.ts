// The SDK's message types follow its codecs: test/fixtures/typed-codecs.ts compiles without a diagnostic (every
// line meant to compile does, every `@ts-expect-error` line fails), under the project's settings and under a plain
// `strict` application's (no exactOptionalPropertyTypes, no noUncheckedIndexedAccess).
import path from 'node:path'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'
import { REPO_ROOT } from '../cli-helpers.js'

const FIXTURE = path.join(REPO_ROOT, 'test', 'fixtures', 'typed-codecs.ts')

const BASE: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  lib: ['lib.es2023.d.ts'],
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  types: ['node'],
  strict: true,
  noEmit: true,
  skipLibCheck: true,
}

function diagnostics(options: ts.CompilerOptions): string[] {
  const program = ts.createProgram([FIXTURE], { ...BASE, ...options })
  return ts
    .getPreEmitDiagnostics(program)
    .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))
    .map((text, i, all) => `${i + 1}/${all.length}: ${text}`)
}

describe('typed codecs', () => {
  it('compile as the project does', () => {
    expect(diagnostics({ exactOptionalPropertyTypes: true, noUncheckedIndexedAccess: true })).toEqual([])
  }, 60_000)

  it('compile as a plain strict application does', () => {
    expect(diagnostics({})).toEqual([])
  }, 60_000)
})

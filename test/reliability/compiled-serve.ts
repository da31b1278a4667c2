// A faster `sluice serve` child for tests that restart the broker a hundred times (D2). Under tsx every start
// transforms and loads ~90 modules through the loader hooks: measured 0.5 s idle and 1.5-2 s on this loaded 2-core
// machine, against 0.3 s and 0.6-1 s for the same sources transpiled once to JavaScript. `compileSluice` transpiles
// src/ (TypeScript's own isolated-module transpiler, the per-file transform tsx does too, no type check) into a temp
// dir whose node_modules is a symlink to the repository's; `startCompiledServe` starts it as test/cli-helpers.ts's
// `startServe` starts the source. The caller removes the dir (fs.rmSync removes the symlink, never its target).
import fs from 'node:fs'
import path from 'node:path'
import ts from 'typescript'
import { REPO_ROOT, startServeOf, type ServeChild } from '../cli-helpers.js'

/** src/ has about 100 files; a tree many times larger is a wrong root, not a reason to run for minutes. */
const SOURCE_FILES_MAX = 2_000

/** Transpiles src/ into `outDir` (.ts to .js; tests and .d.ts left out; other files copied); returns the CLI's main.js. */
export function compileSluice(outDir: string): string {
  const srcDir = path.join(REPO_ROOT, 'src')
  const files = fs.readdirSync(srcDir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile())
  if (files.length > SOURCE_FILES_MAX)
    throw new Error(`${srcDir} holds ${files.length} files (${SOURCE_FILES_MAX} max)`)
  for (const entry of files) {
    const from = path.join(entry.parentPath, entry.name)
    const relative = path.relative(srcDir, from)
    if (relative.endsWith('.test.ts') || relative.endsWith('.d.ts')) continue
    const to = path.join(outDir, 'src', relative.replace(/\.ts$/, '.js'))
    fs.mkdirSync(path.dirname(to), { recursive: true })
    if (!relative.endsWith('.ts')) {
      fs.copyFileSync(from, to)
      continue
    }
    const out = ts.transpileModule(fs.readFileSync(from, 'utf8'), {
      fileName: from,
      compilerOptions: {
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.ESNext,
        verbatimModuleSyntax: true,
      },
    })
    fs.writeFileSync(to, out.outputText)
  }
  fs.writeFileSync(path.join(outDir, 'package.json'), JSON.stringify({ type: 'module' }))
  fs.symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(outDir, 'node_modules'), 'dir')
  return path.join(outDir, 'src', 'cli', 'main.js')
}

/** `node <mainJs> serve ...args` with `env` added; resolves once it prints its listening line. */
export function startCompiledServe(
  mainJs: string,
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<ServeChild> {
  return startServeOf([mainJs], args, env)
}

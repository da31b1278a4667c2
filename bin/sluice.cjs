#!/usr/bin/env node
// The `sluice` command. CommonJS for one reason: libuv sizes its thread pool (every fdatasync runs there) when it is
// first used, and loading an ES module already uses it, so UV_THREADPOOL_SIZE must be set before the CLI (an ES
// module) is imported. 16 threads instead of Node's 4, unless the environment says otherwise: see
// src/cli/threadpool.ts for why and what it measured (the number must match BROKER_THREADPOOL_SIZE there).
'use strict'
if (process.env.UV_THREADPOOL_SIZE === undefined) process.env.UV_THREADPOOL_SIZE = '16'
import('../dist/cli/main.js').then(
  (cli) => cli.runCommand(),
  (err) => {
    process.stderr.write(`error: cannot load the sluice CLI: ${err && err.message ? err.message : String(err)}\n`)
    process.exit(1)
  },
)

// `sluice user add <name> --users-file F`: adds (or replaces) a user whose secret is read from stdin (its first line),
// stored as a salted scrypt hash. The secret never appears on the command line, in the file or in the output.
// `user remove` and `user list` complete the set; a running broker picks up each change at its next handshake.
import { createInterface } from 'node:readline'
import type { Command } from 'commander'
import { addUser, listUsers, removeUser, validateUsername } from '../../server/auth.js'
import { checkArgument, UsageError } from '../context.js'
import { printJson, printLine } from '../output.js'

async function readSecret(): Promise<string> {
  if (process.stdin.isTTY === true) process.stderr.write('secret: ')
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })
  for await (const line of lines) {
    lines.close()
    return line
  }
  return ''
}

export function registerUser(program: Command): void {
  const user = program.command('user').description('manage the users file of `sluice serve --users-file`')
  user
    .command('add <name>')
    .description('add or replace a user; the secret is read from stdin')
    .requiredOption('--users-file <file>', 'the users file (created when absent)')
    .action(async (name: string, opts: { usersFile: string }) => {
      checkArgument(() => validateUsername(name)) // before the secret is asked for
      const secret = await readSecret()
      if (secret.length === 0) throw new UsageError('no secret on stdin')
      await addUser(opts.usersFile, name, secret)
      printLine(`user ${name} written to ${opts.usersFile}`)
    })
  user
    .command('remove <name>')
    .description('remove a user; a running broker refuses its next handshakes')
    .requiredOption('--users-file <file>', 'the users file')
    .action(async (name: string, opts: { usersFile: string }) => {
      await removeUser(opts.usersFile, name)
      printLine(`user ${name} removed from ${opts.usersFile}`)
    })
  user
    .command('list')
    .description('list the user names of a users file')
    .requiredOption('--users-file <file>', 'the users file')
    .option('--json', 'print JSON')
    .action(async (opts: { usersFile: string; json?: boolean }) => {
      const names = await listUsers(opts.usersFile)
      if (opts.json === true) printJson(names)
      else for (const name of names) printLine(name)
    })
}

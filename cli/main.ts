// The `twinx` command line: the one entry point from which every service is started and
// administered. Each command module reads its own configuration (flags, then environment).
import { Command } from 'commander';
import { registerAnalyticsCommands } from './analytics.ts';
import { registerDbCommands } from './db.ts';
import { registerDemoCommand } from './demo.ts';
import { registerGrantCommands } from './grant.ts';
import { registerKeysCommands } from './keys.ts';
import { registerNetworkCommands } from './network.ts';
import { registerOrgCommands } from './org.ts';

const program = new Command('twinx')
  .description('twinx, the federated digital-twin exchange')
  .showHelpAfterError()
  .configureOutput({ outputError: (text, write) => write(text) });

registerOrgCommands(program);
registerKeysCommands(program);
registerGrantCommands(program);
registerNetworkCommands(program);
registerDemoCommand(program);
registerDbCommands(program);
registerAnalyticsCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  // Configuration and usage errors are the operator's to fix: one line, no stack.
  console.error(`twinx: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}

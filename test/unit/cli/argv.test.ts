import t from 'tap';
import { nearest, splitArgv } from '../../../src/cli/argv.js';
import { GLOBAL_OPTIONS } from '../../../src/cli/commands.js';
import { checkArity, findCommand } from '../../../src/cli/help.js';

t.test('global options before the command are moved behind it', async (t) => {
  t.same(splitArgv(['--host', 'ssh://pi@raspberrypi.local', 'ls'], GLOBAL_OPTIONS), { command: 'ls', args: ['--host', 'ssh://pi@raspberrypi.local'] });
  t.same(splitArgv(['--host=/a.sock', '--json', 'deploy', 'dir', '-v'], GLOBAL_OPTIONS), { command: 'deploy', args: ['--host=/a.sock', '--json', 'dir', '-v'] });
  t.same(splitArgv(['-h', 'export'], GLOBAL_OPTIONS), { command: 'export', args: ['-h'] });
  t.same(splitArgv(['ls', '--host', 'x'], GLOBAL_OPTIONS), { command: 'ls', args: ['--host', 'x'] }, 'after the command, as before');
  t.same(splitArgv(['--host', 'x'], GLOBAL_OPTIONS), { command: undefined, args: ['--host', 'x'] }, 'no command: the TUI');
  t.same(splitArgv(['--token', 'ls', 'ls'], GLOBAL_OPTIONS), { command: 'ls', args: ['--token', 'ls'] }, "a global option's value is not the command");
  t.throws(() => splitArgv(['--verbose', 'deploy', 'x'], GLOBAL_OPTIONS), /--verbose is not a global option: put it after the command/);
});

t.test('an unknown command suggests the nearest one, and only a near one', async (t) => {
  const names = ['ls', 'logs', 'deploy', 'rollback', 'secret', 'export'];
  t.equal(nearest('lss', names), 'ls');
  t.equal(nearest('delpoy', names), 'deploy', 'two letters swapped');
  t.equal(nearest('rolback', names), 'rollback');
  t.equal(nearest('exprot', names), 'export');
  t.equal(nearest('frobnicate', names), undefined);
  t.equal(nearest('xy', names), undefined, 'a short word is not everything within two edits');
  t.throws(() => findCommand('lss'), /unknown command "lss"; did you mean ls\?/);
  t.throws(() => findCommand('__proto__'), /unknown command "__proto__"/, "an object's own keys are no commands");
});

t.test("a command's arguments are counted before it runs", async (t) => {
  t.throws(() => checkArity('deploy', findCommand('deploy'), []), /deploy: missing DIR\nusage: rustless deploy DIR/);
  t.throws(() => checkArity('invoke', findCommand('invoke'), ['GET']), /invoke: missing PATH/);
  t.throws(() => checkArity('ls', findCommand('ls'), ['x']), /ls takes no arguments, got also "x"/);
  t.throws(() => checkArity('logs', findCommand('logs'), ['a', 'b']), /logs takes at most 1 argument, got also "b"/);
  t.throws(() => checkArity('export', findCommand('export'), []), /export: missing APP\.\.\./);
  t.doesNotThrow(() => checkArity('export', findCommand('export'), ['a', 'b', 'c']));
  t.doesNotThrow(() => checkArity('help', findCommand('help'), []));
});

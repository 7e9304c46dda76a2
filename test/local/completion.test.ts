/**
 * `rustless completion bash|zsh|fish` in the real shells: the script each prints is loaded into
 * that shell, which then completes commands, flags, and the app names of a real gateway.
 */
import { execa } from 'execa';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { CLI, EXAMPLES, startGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
let bin: string;
let env: NodeJS.ProcessEnv;

t.before(async () => {
  gw = await startGateway();
  const deployed = await gw.deploy(join(EXAMPLES, 'echo'));
  if (deployed.exitCode !== 0) throw new Error(deployed.stderr);
  // `rustless` on PATH, as an installed one would be: the scripts call it by that name.
  bin = await mkdtemp(join(tmpdir(), 'rustless-bin-'));
  await writeFile(join(bin, 'rustless'), `#!/bin/sh\nexec ${process.execPath} ${CLI} "$@"\n`);
  await chmod(join(bin, 'rustless'), 0o755);
  env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, RUSTLESS_HOST: gw.adminSocket, HOME: bin, XDG_CONFIG_HOME: bin };
});
t.teardown(async () => {
  await gw.stop();
  await rm(bin, { recursive: true, force: true });
});

async function script(shell: string): Promise<string> {
  const file = join(bin, `completion.${shell}`);
  const printed = await execa('rustless', ['completion', shell], { env });
  await writeFile(file, printed.stdout + '\n');
  return file;
}

/** What bash completes for `line` (the cursor at its end). */
async function bash(line: string): Promise<string[]> {
  const file = await script('bash');
  const program = `source ${file}; COMP_LINE=${JSON.stringify(line)}; COMP_POINT=\${#COMP_LINE}; _rustless; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const result = await execa('bash', ['--norc', '-c', program], { env });
  return result.stdout.split('\n').filter(Boolean);
}

t.test('bash completes commands, flags, values and app names', async (t) => {
  t.same(await bash('rustless lo'), ['logs']);
  t.same(await bash('rustless export --k'), ['--kind']);
  t.same(await bash('rustless export echo --kind d'), ['deployment']);
  t.same(await bash('rustless logs '), ['echo'], "the gateway's apps");
  t.same(await bash(`rustless --host ${gw.adminSocket} rollback e`), ['echo'], 'from the host named on the line, before the command');
  t.same(await bash('rustless --host ssh://nobody@192.0.2.1 rm '), [], "ssh://'s colons do not break the line apart; no app names from a host that does not answer");
  t.same(await bash('rustless deploy '), [], 'a directory: left to bash (compopt -o default)');
});

t.test('zsh loads the script and offers what rustless says', async (t) => {
  const file = await script('zsh');
  // compadd, _files and compdef are compsys builtins, alive only inside a completion widget:
  // these stand-ins print what the script hands them.
  const program = `compdef() { print "compdef $*" }; compadd() { print -l -- "\${(@P)2}" }; _files() { print _files }
source ${file}
words=(rustless --host ${gw.adminSocket} logs ''); CURRENT=5; _rustless
words=(rustless secret s); CURRENT=3; _rustless
words=(rustless new ''); CURRENT=3; _rustless`;
  const result = await execa('zsh', ['-f', '-c', program], { env });
  t.same(result.stdout.split('\n'), ['compdef _rustless rustless', 'echo', 'set', '_files']);
});

t.test('fish completes with its own engine', async (t) => {
  const file = await script('fish');
  const result = await execa('fish', ['--no-config', '-c', `source ${file}; complete -C 'rustless lo'; complete -C 'rustless logs '; complete -C 'rustless completion '`], { env });
  t.same(result.stdout.split('\n'), ['logs', 'echo', 'bash', 'fish', 'zsh'], 'fish sorts what it offers');
});

t.test('a host that does not answer costs a Tab at most the short timeout', async (t) => {
  // An ssh that never connects (a host behind a firewall that drops packets).
  const slow = join(bin, 'slow-ssh');
  await writeFile(slow, '#!/bin/sh\nexec sleep 60\n');
  await chmod(slow, 0o755);
  const started = Date.now();
  const result = await execa('rustless', ['__complete', '--host', 'ssh://pi@cupboard', 'logs', ''], { env: { ...env, RUSTLESS_SSH_COMMAND: slow } });
  const ms = Date.now() - started;
  t.equal(result.stdout, '', 'no app names');
  t.ok(ms < 10_000, `answered in ${ms} ms, not after ssh's 60 s`);
  const left = await execa('pgrep', ['-f', `${slow}`], { reject: false });
  t.equal(left.stdout, '', 'and the ssh it started is gone');
});

t.test('an unknown shell is named', async (t) => {
  const result = await execa('rustless', ['completion', 'tcsh'], { env, reject: false });
  t.equal(result.exitCode, 2);
  t.match(result.stderr, /the shell must be bash, zsh or fish, got "tcsh"/);
});

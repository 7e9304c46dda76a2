import t from 'tap';
import { completeWords, type TypedHost } from '../../../src/cli/complete-words.js';

const asked: TypedHost[] = [];
const apps = async (host: TypedHost): Promise<string[]> => {
  asked.push(host);
  return ['hello', 'todo', 'testbed'];
};
const complete = (...words: string[]) => completeWords(words, apps);

t.test('commands, then their arguments', async (t) => {
  t.same(await complete('l'), { words: ['ls', 'logs'] });
  t.same(await complete('--host', 'ssh://pi', 'de'), { words: ['deploy'] }, 'after a global option and its value');
  t.same(await complete('nosuch', ''), { words: [] });
  t.same(await complete('deploy', ''), { paths: true });
  t.same(await complete('secret', ''), { words: ['set', 'ls', 'rm'] });
  t.same(await complete('completion', 'z'), { words: ['zsh'] });
  t.same(await complete('help', 'ro'), { words: ['rollback'] });
  t.same(await complete('invoke', 'P'), { words: ['POST', 'PUT', 'PATCH'] });
  t.same(await complete('ls', ''), { words: [] }, 'ls takes no argument');
});

t.test('flags and their values', async (t) => {
  t.same(await complete('export', '--k'), { words: ['--kind'] });
  t.same(await complete('export', 'hello', '--kind', ''), { words: ['knative', 'deployment'] });
  t.same(await complete('export', 'hello', '--out', ''), { paths: true });
  t.same(await complete('--h'), { words: ['--host', '--help'] });
  t.same(await complete('ls', '--host', ''), { words: [] }, 'a host is not guessed');
});

t.test('app names come from the host the line names', async (t) => {
  asked.length = 0;
  t.same(await complete('--host', 'ssh://pi@raspberrypi.local', 'logs', ''), { words: ['hello', 'todo', 'testbed'] });
  t.same(asked, [{ host: 'ssh://pi@raspberrypi.local' }]);
  t.same(await complete('rm', 't', '--host=/run/x.sock'), { words: [] }, 'a --host=VALUE being typed is no flag name to complete');
  asked.length = 0;
  t.same(await complete('secret', 'set', 't'), { words: ['todo', 'testbed'] });
  t.same(await complete('logs', '--lines', '5', 'he'), { words: ['hello'] }, "a flag's value is not an argument");
  t.same(await complete('export', 'hello', ''), { words: ['todo', 'testbed'] }, 'export: the apps not named yet');
  t.same(asked, [{}, {}, {}], 'without --host, the usual host');
});

/** `rustless doctor [--backend local|systemd]`: says what is missing and how to get it. */
import type { CommandContext } from '../command.js';
import { checkLocal, checkSystemd, type CheckResult } from '../doctor-checks.js';
import { printJson } from '../output.js';

export async function doctor({ flags }: CommandContext): Promise<number> {
  const backend = flags.backend === 'systemd' ? 'systemd' : 'local';
  const results: CheckResult[] = [...(await checkLocal(backend)), ...(backend === 'systemd' ? await checkSystemd() : [])];
  const ok = results.every((r) => r.ok);
  if (flags.json) {
    printJson({ backend, ok, checks: results });
    return ok ? 0 : 1;
  }
  for (const result of results) {
    process.stdout.write(`${result.ok ? 'ok     ' : 'MISSING'}  ${result.name.padEnd(12)} ${result.detail}\n`);
    if (!result.ok && result.fix) process.stdout.write(`         ${''.padEnd(12)} fix: ${result.fix}\n`);
  }
  process.stdout.write(ok ? `ready for the ${backend} backend\n` : `not ready for the ${backend} backend: fix what is MISSING above\n`);
  return ok ? 0 : 1;
}

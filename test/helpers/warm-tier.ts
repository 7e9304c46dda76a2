/**
 * The warm tier in a VM guest, as the kernel sees it: which `cgroup.freeze` files the gateway
 * froze for an app, and what cgroup2 itself says of them. pi.test.ts (CI) and pi-deploys.test.ts
 * check the same freeze with these.
 */
import type { Test } from 'tap';
import type { VmSession } from './vm-guest.js';

/** The files the gateway froze for an app (its record under /run/rustless/frozen), if it is frozen. */
export async function frozenFiles(s: VmSession, app: string): Promise<string[] | undefined> {
  const result = await s.vm.run(`cat /run/rustless/frozen/${app}`);
  return result.exitCode === 0 ? result.stdout.split('\n').filter(Boolean).map((line) => line.split(' ')[0]!) : undefined;
}

/** `frozen 1` or `frozen 0`: what cgroup2 itself says of the cgroup of a `cgroup.freeze` file. */
export async function kernelFrozen(s: VmSession, freezeFile: string): Promise<string> {
  const events = (await s.vm.run(`cat ${freezeFile.replace(/cgroup\.freeze$/, 'cgroup.events')}`)).stdout;
  return /^frozen \d$/m.exec(events)?.[0] ?? events;
}

/**
 * Waits for the warm tier to freeze `app` and checks how: cgroup2's `cgroup.freeze` of the
 * `payload` cgroup below the app's unit, with every process moved there (systemd starts the
 * unit's ExecStop= in the unit's own cgroup, which must not be frozen), and the kernel agreeing.
 * Returns the freeze file.
 */
export async function frozenInPayload(tt: Test, s: VmSession, app: string): Promise<string> {
  await s.eventually(async () => (await frozenFiles(s, app)) !== undefined, 60_000, `the idle freeze of ${app}`);
  const file = (await frozenFiles(s, app))![0]!;
  const unit = `/sys/fs/cgroup/system.slice/rustless-fn-${app}.service`;
  tt.equal(file, `${unit}/payload/cgroup.freeze`, "cgroup2's cgroup.freeze of the cgroup below the app's unit");
  tt.equal((await s.ok(tt, `cat ${unit}/cgroup.procs`)).stdout.trim(), '', "no process left in the unit's own cgroup, where systemd starts its ExecStop=");
  tt.not((await s.ok(tt, `cat ${unit}/payload/cgroup.procs`)).stdout.trim(), '', 'its processes in payload');
  tt.equal(await kernelFrozen(s, file), 'frozen 1', 'the kernel says frozen');
  return file;
}

/** The warm tier's round trip for hello: frozen when idle (frozenInPayload), thawed by its next request. */
export async function freezesAndThaws(tt: Test, s: VmSession): Promise<void> {
  const freezeFile = await frozenInPayload(tt, s, 'hello');
  tt.same((await s.get('/hello/thawed')).body, { message: 'hello thawed' }, 'a request thaws it and is answered');
  tt.equal(await kernelFrozen(s, freezeFile), 'frozen 0', 'the kernel says thawed');
}

/**
 * What the VM suites share: a booted VM test host (scripts/lib/vm/vm.mjs) with rust-less copied
 * onto its own disk and installed by scripts/install.mjs, and the calls every check makes.
 */
import type { Test } from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { bootVm, downVm } from '../../scripts/lib/vm/vm.mjs';
import { keptDepsLayer } from '../../scripts/lib/vm/deps-cache.mjs';
import { copyCheckoutCommand } from '../../scripts/lib/vm/checkout-copy.mjs';
import type { GuestResult } from './guest.js';

/** The guest's checkout: this machine's, shown read-only with 9p. */
export const SRC = '/src/rustless';
/** rust-less on the guest's own disk, with node_modules built for the guest (node-modules.mjs). */
export const APP_DIR = '/opt/rustless';
/** The gateway's port inside the guest; the VM forwards it to a loopback port here. */
export const GUEST_PORT = 8080;

export interface VmGuest {
  name: string;
  state: { ports: Array<{ guest: number; host: number }>; memory: number; kernelFlavour: string };
  port(guestPort: number): number;
  run(cmd: string | string[], options?: { input?: string; timeoutMs?: number }): Promise<GuestResult>;
  writeFile(path: string, content: string): Promise<void>;
  kill(): Promise<unknown>;
}

export interface Reply {
  status: number;
  body: any;
  text: string;
  error?: string;
}

// Raspberry Pi OS's firmware puts cgroup_disable=memory on the kernel's command line (from its
// device tree), then the one line of /boot/firmware/cmdline.txt. Its kernel takes a later
// cgroup_enable=memory as the way back (a Raspberry Pi patch; Debian's kernel has no such
// parameter), so the VM plays that firmware: the default first, then the file, and
// cgroup_enable=memory in the file drops the default.
const PI_FIRMWARE_DEFAULT = 'cgroup_disable=memory';
export const STOCK_CMDLINE = 'console=serial0,115200 console=tty1 root=PARTUUID=abcd1234-02 rootfstype=ext4 fsck.repair=yes rootwait';

export function firmwareCommandLine(cmdline: string): string {
  return cmdline.split(/\s+/).includes('cgroup_enable=memory') ? '' : PI_FIRMWARE_DEFAULT;
}

export interface PiBoot {
  kernelFlavour?: string;
  kernelArgs?: string;
  /** Boot the disk the previous boot of this name left (after powering that one off). */
  keepDisk: boolean;
  /** MiB (2048: a 2 GiB Pi 4). */
  memory?: number;
  /** More host directories to show inside, beside the checkout at SRC. */
  binds?: Array<{ host: string; guest: string; readOnly?: boolean }>;
}

/** How long a clean poweroff may take under emulation before the plug is pulled (10 s in the 1 GiB VM alone on this machine). */
const POWEROFF_TIMEOUT_MS = 300_000;

/**
 * Boots (or boots again) the arm64 VM `name` (2 GiB unless told) as a Pi: this checkout shown at SRC, the
 * gateway's port forwarded, the guest's node_modules, and the shared dependencies an earlier
 * VM's rust-less built (scripts/lib/vm/deps-cache.mjs) on a new disk.
 */
export async function bootPi(tt: Test, name: string, root: string, { memory = 2048, binds = [], ...options }: PiBoot): Promise<VmGuest> {
  const log = (m: string): void => void tt.comment(m);
  if (options.keepDisk) {
    // A reboot is a clean poweroff first, as a Pi's owner does it: it must end by itself. With an
    // app frozen by the warm tier it once never did (docs/raspberry-pi.md).
    const down = await downVm({ name, keepDisk: true, timeoutMs: POWEROFF_TIMEOUT_MS, log });
    if (down.stopped) tt.notOk(down.killed, `the machine powered off by itself (${down.seconds} s, emulated)`);
  }
  return (await bootVm({
    name,
    arch: 'arm64',
    memory,
    cpus: 2,
    binds: [{ host: root, guest: SRC, readOnly: true }, ...binds],
    forwards: [{ guest: GUEST_PORT }],
    nodeModulesFrom: root,
    layers: [keptDepsLayer('arm64')].filter((layer) => layer !== undefined),
    timeoutMs: 900_000,
    log,
    ...options,
  })) as VmGuest;
}

/**
 * A VM suite's own VM: `boot()` boots it (again) and returns the session its checks use; the
 * VM is powered off when the suite ends.
 */
export class PiSuite {
  session?: VmSession;

  constructor(
    readonly t: Test,
    readonly name: string,
    readonly root: string,
  ) {
    t.teardown(async () => {
      await this.session?.close();
      await downVm({ name, log: () => {} });
    });
  }

  async boot(tt: Test, options: PiBoot): Promise<VmSession> {
    const vm = await bootPi(tt, this.name, this.root, options);
    if (this.session) this.session.vm = vm;
    else this.session = new VmSession(this.t, vm);
    return this.session;
  }
}

/** Calls made in a VM, with the test that reports them. Every guest command may take long here. */
export class VmSession {
  readonly fresh = new Agent({ pipelining: 0, headersTimeout: 120_000, bodyTimeout: 120_000 });

  constructor(
    readonly t: Test,
    public vm: VmGuest,
  ) {}

  get base(): string {
    return `http://127.0.0.1:${this.vm.port(GUEST_PORT)}`;
  }

  async sh(cmd: string, timeoutMs = 1_800_000): Promise<GuestResult> {
    const t0 = Date.now();
    const result = await this.vm.run(cmd, { timeoutMs });
    this.t.comment(`vm$ ${cmd.length > 160 ? `${cmd.slice(0, 160)}...` : cmd} -> ${result.exitCode} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return result;
  }

  async ok(tt: Test, cmd: string, message?: string, timeoutMs?: number): Promise<GuestResult> {
    const result = await this.sh(cmd, timeoutMs);
    tt.equal(result.exitCode, 0, message ?? cmd, { stdout: result.stdout.slice(-4000), stderr: result.stderr.slice(-4000) });
    return result;
  }

  async unitActive(unit: string): Promise<string> {
    return (await this.vm.run(`systemctl is-active ${unit}`)).stdout.trim();
  }

  async appInfo(app: string): Promise<any> {
    const { stdout } = await this.vm.run('rustless ls --json');
    return JSON.parse(stdout).find((entry: { name: string }) => entry.name === app);
  }

  /** A request from this machine through the forwarded port; a connection error is status 0. */
  async call(method: string, path: string, body?: unknown, dispatcher: Agent = this.fresh): Promise<Reply> {
    try {
      const response = await request(`${this.base}${path}`, {
        method: method as 'GET',
        dispatcher,
        ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      });
      const text = await response.body.text();
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      return { status: response.statusCode, body: parsed, text };
    } catch (error) {
      return { status: 0, body: undefined, text: '', error: String(error) };
    }
  }

  get(path: string): Promise<Reply> {
    return this.call('GET', path);
  }

  async eventually(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await sleep(500);
    }
  }

  /**
   * rust-less from this checkout onto the guest's disk (node_modules already there, built for the
   * guest), then scripts/install.mjs as a Pi owner runs it. Returns install.mjs's output.
   */
  async install(tt: Test, gatewayFlags: string, extra = ''): Promise<GuestResult> {
    await this.ok(tt, copyCheckoutCommand(SRC, APP_DIR), 'the checkout, onto the guest disk');
    return this.ok(tt, `cd ${APP_DIR} && node node_modules/zx/build/cli.js scripts/install.mjs --port ${GUEST_PORT} --gateway-flags="${gatewayFlags}" ${extra}`, 'install.mjs succeeds');
  }

  /** `rustless deploy` of /root/apps/APP inside the VM: built there, as on a Pi. Returns its output. */
  async deploy(tt: Test, app: string, timeoutMs = 3_600_000): Promise<string> {
    const t0 = Date.now();
    const result = await this.sh(`rustless deploy --verbose /root/apps/${app} 2>&1`, timeoutMs);
    tt.equal(result.exitCode, 0, `rustless deploy ${app}, built inside the VM (${((Date.now() - t0) / 1000).toFixed(0)} s)`, { output: result.stdout.slice(-6000) });
    tt.match(result.stdout, new RegExp(`${app} is live`), `${app} is live`);
    tt.comment(result.stdout.match(/peak build memory .*/g)?.join('; ') ?? 'no peak build memory line');
    return result.stdout;
  }

  /** The gateway's own answer for a path no app has: proof that it runs and routes. */
  async gatewayAnswers(tt: Test): Promise<void> {
    await this.eventually(async () => (await this.unitActive('rustless.socket')) === 'active', 300_000, 'rustless.socket');
    const reply = await this.get('/no-such-app');
    tt.equal(reply.status, 404, 'the socket-activated gateway answers a request from this machine');
    tt.match(reply.body, { error: { code: 'RUSTLESS_NOT_FOUND' } }, 'with its JSON error for an unrouted path');
    tt.equal(await this.unitActive('rustless.service'), 'active', 'rustless.service was started by its socket');
  }

  /** `install.mjs --enable-memory-cgroup` as a Pi owner runs it; returns cmdline.txt after it. */
  async enableMemoryCgroup(tt: Test, gatewayFlags: string): Promise<string> {
    const fix = await this.ok(tt, `cd ${APP_DIR} && node node_modules/zx/build/cli.js scripts/install.mjs --port ${GUEST_PORT} --gateway-flags="${gatewayFlags}" --enable-memory-cgroup`);
    tt.match(fix.stdout + fix.stderr, /reboot/i, 'install.mjs --enable-memory-cgroup says a reboot is needed');
    const cmdline = (await this.ok(tt, 'cat /boot/firmware/cmdline.txt')).stdout;
    tt.equal(cmdline.trim().split('\n').length, 1, 'cmdline.txt is still one line');
    tt.match(cmdline, /cgroup_enable=memory/, 'with cgroup_enable=memory');
    tt.ok(cmdline.includes(STOCK_CMDLINE), 'and everything it had');
    return cmdline;
  }

  async close(): Promise<void> {
    await this.fresh.close();
  }
}

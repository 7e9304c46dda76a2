// The power-cut rig: an arm64 VM test host (scripts/lib/vm/vm.mjs) with rust-less installed as a
// Pi owner installs it and three apps deployed (hello, todo, testbed), a ledger of what rust-less
// promised (builds reported live, todos that got a 201, secrets that were set), and the checks
// that every promise survived a boot after a cut. Used by scripts/power-cut.mjs and
// test/vm/power-cut.test.ts. See docs/power-loss.md.
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { keepDepsLayers, keptDepsLayer } from '../vm/deps-cache.mjs';
import { attachVm, bootVm, downVm } from '../vm/vm.mjs';

export const GUEST_PORT = 8080;
const SRC = '/src/rustless';
const APP_DIR = '/opt/rustless';
/** Short, so that an idle freeze and stop happen within a cut's window. */
export const IDLE_S = 4;
export const FROZEN_S = 8;
/** The gateway's flags: short idle times, and builds under emulation take longer than 900 s. */
export const GATEWAY_FLAGS = `--idle-timeout ${IDLE_S} --frozen-timeout ${FROZEN_S} --build-timeout 3600`;
/**
 * The CLI, told where the gateway is: its search probes the admin socket for 1 s, which an
 * emulated machine under load can miss.
 */
export const RUSTLESS = 'RUSTLESS_HOST=/run/rustless/admin.sock rustless';
const q = (s) => `'${String(s).replaceAll("'", "'\\''")}'`;

export class PowerCutRig {
  /**
   * @param {{ name: string, root: string, memory?: number, cpus?: number, nodeModulesLayer?: string, log?: (line: string) => void }} opts
   * `nodeModulesLayer`: a tree holding opt/rustless/node_modules built for arm64 already (laid
   * over the guest's root), instead of the one vm.mjs builds from the checkout's lockfile.
   */
  constructor({ name, root, memory = 2048, cpus = 2, nodeModulesLayer, log = (line) => process.stderr.write(`${line}\n`) }) {
    Object.assign(this, { name, root, memory, cpus, nodeModulesLayer, log });
    this.vm = undefined;
    /** hello's builds by id: the marker its answer carries. */
    this.markers = new Map();
    /** The build of hello reported live last. */
    this.live = { hello: undefined };
    /** A deploy or rollback of hello a cut interrupted: `{ marker, id?, required }` (required: it had answered). */
    this.pending = undefined;
    /** Every todo id that got a 201, with its title. */
    this.acked = new Map();
    /** testbed's TESTBED_TOKEN: its value, one a cut `secret set` may have set, and whether it had answered. */
    this.secret = { value: undefined, pending: undefined, required: false };
    /** Whether the app `spare` exists (rm moments remove it), or may (an rm was cut). */
    this.spare = { exists: false, maybe: false };
    this.deploys = 0;
    this.timings = {};
  }

  /** The ledger as JSON, for a later `--resume`. */
  snapshot() {
    return { markers: [...this.markers], live: this.live, acked: [...this.acked], secret: this.secret, spare: this.spare, deploys: this.deploys, timings: this.timings };
  }

  restore(saved) {
    this.markers = new Map(saved.markers);
    this.acked = new Map(saved.acked);
    Object.assign(this, { live: saved.live, secret: saved.secret, spare: saved.spare, deploys: saved.deploys, timings: saved.timings });
  }

  get base() {
    return `http://127.0.0.1:${this.vm.port(GUEST_PORT)}`;
  }

  async boot({ fresh = false } = {}) {
    const t0 = Date.now();
    this.vm = await bootVm({
      name: this.name,
      arch: 'arm64',
      memory: this.memory,
      cpus: this.cpus,
      forwards: [{ guest: GUEST_PORT }],
      keepDisk: !fresh,
      // Under emulation on a shared machine a boot took up to 5 min.
      timeoutMs: 900_000,
      // A fresh disk starts with the shared dependencies an earlier VM built (an hour under
      // emulation), as a Pi's card has them after its first deploy (scripts/lib/vm/deps-cache.mjs).
      ...(fresh
        ? {
            binds: [{ host: this.root, guest: SRC, readOnly: true }],
            layers: [this.nodeModulesLayer, keptDepsLayer('arm64')].filter(Boolean),
            ...(this.nodeModulesLayer ? {} : { nodeModulesFrom: this.root }),
          }
        : {}),
      log: (line) => this.log(`  ${line}`),
    });
    this.timings.lastBootS = (Date.now() - t0) / 1000;
    return this.vm;
  }

  /** Runs a guest command that must succeed; returns its stdout. */
  async ok(cmd, timeoutMs = 3_600_000) {
    const r = await this.vm.run(cmd, { timeoutMs });
    if (r.exitCode !== 0) throw new Error(`guest: ${cmd} exited ${r.exitCode}: ${(r.stdout + r.stderr).trim().slice(-3000)}`);
    return r.stdout;
  }

  /** A fresh disk: rust-less installed, hello (two builds), todo, testbed (with a secret) and spare deployed. */
  async setup({ gatewayFlags = '' } = {}) {
    await this.boot({ fresh: true });
    await this.install({ gatewayFlags });
    await this.deployApps();
  }

  /** A VM of this name that is up already (a set-up that stopped half-way), to go on with. */
  async attach() {
    this.vm = await attachVm(this.name);
  }

  async install({ gatewayFlags = '' } = {}) {
    this.log('installing rust-less in the VM');
    await this.ok(`mkdir -p ${APP_DIR} && cd ${SRC} && tar --exclude=./node_modules --exclude=./.git --exclude=./.tap --exclude='*/target' --exclude=./runner/Cargo.lock -cf - . | tar -C ${APP_DIR} -xf -`);
    await this.ok(`cd ${APP_DIR} && node node_modules/zx/build/cli.js scripts/install.mjs --port ${GUEST_PORT} --gateway-flags=${q(`${GATEWAY_FLAGS} ${gatewayFlags}`.trim())}`);
    await this.ok(`mkdir -p /root/apps && for app in hello todo testbed; do cp -r ${SRC}/runner/examples/$app /root/apps/$app; rm -rf /root/apps/$app/target; done`);
    await this.ok(`cp -r /root/apps/hello /root/apps/spare && cd /root/apps/spare && sed -i 's/^name = "hello"/name = "spare"/; s#"/hello#"/spare#g' rustless.toml && sed -i 's/^name = "hello"/name = "spare"/' Cargo.toml`);
  }

  async deployApps() {
    // The gateway starts on its socket's first connection; under emulation that takes a while.
    await this.ok(`curl -sS -o /dev/null -m 600 http://127.0.0.1:${GUEST_PORT}/`);
    // Those a set-up cut short (--attach) has already.
    const have = new Set((await this.apps()).filter((a) => a.currentBuild !== null).map((a) => a.name));
    for (const app of ['todo', 'testbed']) if (!have.has(app)) await this.deploy(app);
    await keepDepsLayers(this.vm, 'arm64', { log: this.log });
    await this.deployHello();
    const t0 = Date.now();
    await this.deployHello();
    this.timings.helloDeployS = (Date.now() - t0) / 1000;
    await this.deploySpare();
    await this.setSecret(`first-${'x'.repeat(2000)}`);
    this.log(`set up: a rebuild of hello takes ${this.timings.helloDeployS.toFixed(0)} s here`);
  }

  async deploy(app) {
    const t0 = Date.now();
    await this.ok(`${RUSTLESS} deploy /root/apps/${app}`);
    this.log(`deployed ${app} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  }

  async deploySpare() {
    await this.deploy('spare');
    this.spare = { exists: true, maybe: false };
  }

  /** The next marker of hello, written into its source: `hello NAME vN`. */
  async nextHelloSource() {
    const marker = `v${++this.deploys}-${Date.now() % 100000}`;
    await this.ok(`sed -i -E 's/"hello \\{\\}[^"]*"/"hello {} ${marker}"/' /root/apps/hello/src/lib.rs && grep -q ${q(marker)} /root/apps/hello/src/lib.rs`);
    return marker;
  }

  async deployHello() {
    const marker = await this.nextHelloSource();
    await this.deploy('hello');
    const id = (await this.appInfo('hello')).currentBuild;
    this.markers.set(id, marker);
    this.live.hello = id;
    return id;
  }

  async setSecret(value) {
    await this.ok(`printf %s ${q(value)} | ${RUSTLESS} secret set testbed TESTBED_TOKEN`);
    this.secret = { value, pending: undefined, required: false };
  }

  async apps() {
    return JSON.parse(await this.ok(`${RUSTLESS} ls --json`, 300_000));
  }

  async appInfo(app) {
    return (await this.apps()).find((entry) => entry.name === app);
  }

  /** A request from this machine through the forwarded port; a failure is status 0. */
  async call(method, urlPath, body, timeoutMs = 120_000) {
    try {
      const response = await fetch(`${this.base}${urlPath}`, {
        method,
        signal: AbortSignal.timeout(timeoutMs),
        ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      });
      const text = await response.text();
      let json;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: response.status, body: json, text };
    } catch (error) {
      return { status: 0, body: undefined, text: String(error) };
    }
  }

  /** Pulls the plug. */
  async cut() {
    await this.vm.kill();
  }

  /**
   * After a boot on the cut disk, with no human step: checks every promise. Returns
   * `{ problems: string[], recovery: string }` (the gateway's recovery line, or what it said).
   */
  async verify() {
    const problems = [];
    const socket = (await this.vm.run('systemctl is-active rustless.socket')).stdout.trim();
    if (socket !== 'active') problems.push(`rustless.socket is ${socket} after the boot`);
    // The first request starts the gateway (socket activation) and its recovery.
    const hello = await this.call('GET', '/hello/pc', undefined, 600_000);
    const gateway = (await this.vm.run('systemctl is-active rustless.service')).stdout.trim();
    if (gateway !== 'active') problems.push(`rustless.service is ${gateway} after the first request`);
    const apps = await this.apps().catch((error) => {
      problems.push(`rustless ls failed: ${error.message}`);
      return [];
    });
    for (const app of apps) if (app.status === 'failed' || app.currentBuild === null) problems.push(`app ${app.name} is ${app.status} (build ${app.currentBuild})`);

    // hello: the build reported live last, or one a deploy or rollback cut short may have made
    // live (only that one, when the command had answered before the cut).
    const current = apps.find((a) => a.name === 'hello')?.currentBuild;
    const message = String(hello.body?.message ?? '');
    const got = message.startsWith('hello pc ') ? message.slice('hello pc '.length) : undefined;
    const liveMarker = this.markers.get(this.live.hello);
    const allowed = [...(this.pending?.required ? [] : [liveMarker]), ...(this.pending ? [this.pending.marker] : [])];
    if (hello.status !== 200 || !allowed.includes(got)) {
      problems.push(`hello answered ${hello.status} ${hello.text.slice(0, 200)}, expected the marker ${allowed.join(' or ')}`);
    } else if (got !== liveMarker) {
      if (this.pending.id !== undefined && current !== this.pending.id) problems.push(`hello answers as build ${this.pending.id}, rustless ls says ${current} serves`);
      this.markers.set(current, got);
      this.live.hello = current;
    } else if (current !== this.live.hello) {
      problems.push(`rustless ls says build ${current} serves hello, but it answers as build ${this.live.hello}`);
    }
    this.pending = undefined;

    // todo: every id that got a 201.
    const todos = await this.call('GET', '/todos', undefined, 300_000);
    if (todos.status !== 200 || !Array.isArray(todos.body)) problems.push(`todo answered ${todos.status} ${todos.text.slice(0, 200)}`);
    else {
      const have = new Map(todos.body.map((t) => [t.id, t.title]));
      const lost = [...this.acked].filter(([id, title]) => have.get(id) !== title);
      if (lost.length > 0) problems.push(`${lost.length} todos that got a 201 are lost (ids ${lost.slice(0, 10).map(([id]) => id).join(', ')})`);
    }

    // testbed's secret: its old value or its new one, whole.
    const secret = await this.call('GET', '/config/secret/TESTBED_TOKEN', undefined, 300_000);
    const value = secret.body?.value;
    const allowedSecrets = [...(this.secret.required ? [] : [this.secret.value]), ...(this.secret.pending ? [this.secret.pending] : [])];
    if (!allowedSecrets.includes(value)) problems.push(`TESTBED_TOKEN is ${secret.status} ${JSON.stringify(String(value ?? secret.text).slice(0, 60))}..., not ${this.secret.required ? 'the value it was set to' : 'its old or its new value'}`);
    else this.secret.value = value;
    this.secret = { value: this.secret.value, pending: undefined, required: false };

    // spare: there and serving, or gone without a trace, as its rm got that far.
    const spareApp = apps.find((a) => a.name === 'spare');
    if (spareApp) {
      if (!this.spare.exists && !this.spare.maybe) problems.push('spare is back after an rm that answered');
      const reply = await this.call('GET', '/spare/x', undefined, 300_000);
      if (reply.status !== 200) problems.push(`spare answered ${reply.status} ${reply.text.slice(0, 200)}`);
      this.spare = { exists: true, maybe: false };
    } else {
      if (this.spare.exists && !this.spare.maybe) problems.push('spare is gone, with no rm');
      const left = (await this.vm.run('ls /etc/containers/systemd/rustless-fn-spare.container /var/lib/rustless/secrets/spare 2>/dev/null; podman images --noheading --format "{{.Repository}}" | grep rustless-fn-spare')).stdout.trim();
      if (left) problems.push(`spare was removed, but left: ${left.replaceAll('\n', ', ')}`);
      this.spare = { exists: false, maybe: false };
    }

    const integrity = await this.vm.run(`cd ${APP_DIR} && node -e ${q("const D=require('better-sqlite3');const db=new D('/var/lib/rustless/rustless.db',{readonly:true});console.log(db.pragma('integrity_check',{simple:true}))")}`);
    if (integrity.stdout.trim() !== 'ok') problems.push(`the registry's integrity check says: ${(integrity.stdout + integrity.stderr).trim().slice(0, 300)}`);
    const podman = await this.vm.run('podman images --noheading --format "{{.Repository}}:{{.Tag}}"');
    if (podman.exitCode !== 0) problems.push(`podman images failed: ${podman.stderr.trim().slice(0, 300)}`);
    const recovery = (await this.vm.run("journalctl -b -u rustless.service -o cat --no-pager | grep -E 'recovery:|could not be installed' | tail -3")).stdout.trim();
    return { problems, recovery };
  }

  async down({ keepDisk = false } = {}) {
    await downVm({ name: this.name, keepDisk, log: (line) => this.log(`  ${line}`) });
  }
}

/** Sleeps `ms`, then pulls the plug; resolves how long it waited. */
export async function cutAfter(rig, ms) {
  await sleep(ms);
  await rig.cut();
  return ms;
}

export const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..', '..');

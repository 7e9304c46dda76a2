#!/usr/bin/env zx
// SD card wear: the bytes a Pi running rust-less writes to its disk, from the guest's own
// /proc/diskstats (sectors written on vda, everything flushed with `sync` before each reading),
// per 1,000 warm requests and per idle cycle (a request, then frozen, then stopped), with and
// without --access-log, beside the same time with no requests at all (the machine's own writes).
// Runs in the VM a `scripts/power-cut.mjs --keep` run left (rust-less installed, apps deployed).
//
//   sudo npx zx scripts/wear.mjs [--name power-cut] [--requests 1000] [--cycles 3]
import { setTimeout as sleep } from 'node:timers/promises';
import { FROZEN_S, GATEWAY_FLAGS, IDLE_S, PowerCutRig, REPO_ROOT } from './lib/power-cut/rig.mjs';

const name = String(argv.name ?? 'power-cut');
const requests = Number(argv.requests ?? 1000);
const cycles = Number(argv.cycles ?? 3);
if (process.getuid() !== 0) fail('run it as root (sudo): the VM test host needs it');
if (!Number.isInteger(requests) || requests < 1) fail(`Expected --requests to be a whole number >= 1, got ${JSON.stringify(argv.requests)}`);
if (!Number.isInteger(cycles) || cycles < 1) fail(`Expected --cycles to be a whole number >= 1, got ${JSON.stringify(argv.cycles)}`);

const rig = new PowerCutRig({ name, root: REPO_ROOT, cpus: Number(argv.cpus ?? 2), log: (line) => echo(line) });
await rig.boot();
const results = [];
for (const accessLog of [false, true]) {
  await setAccessLog(accessLog);
  const label = accessLog ? 'with --access-log' : 'without --access-log';
  // Warm: the runner up, its first cold start not counted.
  for (let i = 0; i < 5; i++) await rig.call('GET', '/hello/warm');
  const warmStart = await written();
  const t0 = Date.now();
  for (let i = 0; i < requests; i++) {
    const reply = await rig.call('GET', `/hello/w${i}`);
    if (reply.status !== 200) fail(`request ${i} answered ${reply.status}: ${reply.text.slice(0, 200)}`);
  }
  const warmS = (Date.now() - t0) / 1000;
  const warm = (await written()) - warmStart;
  const quiet = await quietWrites(warmS);
  results.push({ label, what: `${requests} warm requests`, bytes: warm, quiet, seconds: warmS });

  // A cycle ends when the idle stop has happened: under emulation a stop takes well over the
  // idle and frozen times, so each waits for `inactive` rather than a fixed time.
  const cycleStart = await written();
  const c0 = Date.now();
  for (let i = 0; i < cycles; i++) {
    await rig.call('GET', '/hello/cycle');
    await sleep((IDLE_S + FROZEN_S) * 1000);
    await stoppedWithin(120_000);
  }
  const cycleS = (Date.now() - c0) / 1000 / cycles;
  const idle = ((await written()) - cycleStart) / cycles;
  results.push({ label, what: 'one idle cycle (request, freeze, stop)', bytes: idle, quiet: await quietWrites(cycleS), seconds: Math.round(cycleS) });
}
await setAccessLog(false);
await rig.down({ keepDisk: true });

echo('\nbytes written to the disk (guest /proc/diskstats, after sync), beside the same time with no requests');
echo('case                     what                                        written      no requests   ratio');
for (const r of results) {
  echo(`${r.label.padEnd(24)} ${r.what.padEnd(42)} ${kib(r.bytes).padStart(10)}  ${kib(r.quiet).padStart(12)}  ${r.quiet > 0 ? (r.bytes / r.quiet).toFixed(1) : '-'}x`);
}

/** Waits until hello's runner has been stopped for being idle; fails past `ms`. */
async function stoppedWithin(ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    const state = (await rig.vm.run('systemctl is-active rustless-fn-hello.service')).stdout.trim();
    if (state === 'inactive') return;
    if (Date.now() > deadline) fail(`hello is still ${state} ${ms / 1000} s after its idle time: the idle stop did not happen`);
    await sleep(1_000);
  }
}

/** Sectors written to vda since boot, in bytes, after a sync. */
async function written() {
  const out = await rig.ok("sync && awk '$3 == \"vda\" { print $10 }' /proc/diskstats");
  return Number(out.trim()) * 512;
}

/** The yardstick: bytes the machine writes in `seconds` with no request at all. */
async function quietWrites(seconds) {
  const start = await written();
  await sleep(seconds * 1000);
  return (await written()) - start;
}

async function setAccessLog(on) {
  const flags = `${GATEWAY_FLAGS}${on ? ' --access-log' : ''}`;
  await rig.ok(`printf 'RUSTLESS_GATEWAY_FLAGS=%s\\n' '${flags}' > /etc/rustless/gateway.env && systemctl restart rustless.service`);
  await rig.call('GET', '/hello/restarted', undefined, 300_000);
  // The access log is in the runner's unit: a new start of hello takes the flag.
  await rig.ok('systemctl stop rustless-fn-hello.service');
}

function kib(bytes) {
  return `${(bytes / 1024).toFixed(0)} KiB`;
}

function fail(message) {
  echo(`wear: ${message}`);
  process.exit(2);
}

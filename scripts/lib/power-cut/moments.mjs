// The moments of a Pi's life at which scripts/power-cut.mjs pulls the plug: each starts an
// operation, cuts the power at a random point of its usual duration, and records in the rig's
// ledger what rust-less had promised by then (rig.mjs checks it after the next boot).
import { setTimeout as sleep } from 'node:timers/promises';
import { FROZEN_S, IDLE_S, RUSTLESS } from './rig.mjs';

const q = (s) => `'${String(s).replaceAll("'", "'\\''")}'`;

/**
 * Runs `cmd` in the guest and cuts the power after a random part of `windowMs`.
 * `completed`: the command had answered with success before the cut (a promise to keep).
 */
async function cutDuring(rig, cmd, windowMs, random) {
  let result;
  const op = rig.vm.run(cmd, { timeoutMs: windowMs * 4 + 600_000 }).then((r) => (result = r));
  const atMs = Math.floor(random() * windowMs);
  await sleep(atMs);
  const completed = result?.exitCode === 0;
  await rig.cut();
  await op.catch(() => undefined);
  return { atMs, completed };
}

export const MOMENTS = {
  /** A deploy of a new hello, from upload through build, image, units and registry. */
  async deploy(rig, random) {
    const marker = await rig.nextHelloSource();
    const window = (rig.timings.helloDeployS ?? 120) * 1000 * 1.1;
    const cut = await cutDuring(rig, `${RUSTLESS} deploy /root/apps/hello`, window, random);
    rig.pending = { marker, required: cut.completed };
    return cut;
  },

  /** A rollback of hello to its previous build. */
  async rollback(rig, random) {
    const target = [...rig.markers.keys()].filter((id) => id !== rig.live.hello).sort((a, b) => b - a)[0];
    const cut = await cutDuring(rig, `${RUSTLESS} rollback hello --build ${target}`, 20_000, random);
    rig.pending = { marker: rig.markers.get(target), id: target, required: cut.completed };
    return cut;
  },

  /** `rustless rm` of the app spare (deployed again first when a previous rm removed it). */
  async rm(rig, random) {
    if (!rig.spare.exists) await rig.deploySpare();
    const cut = await cutDuring(rig, `${RUSTLESS} rm spare`, 20_000, random);
    rig.spare = { exists: false, maybe: !cut.completed };
    return cut;
  },

  /** `rustless secret set` of testbed's TESTBED_TOKEN (4 KiB, so half of one would show). */
  async secret(rig, random) {
    const value = `pc-${Date.now()}-`.padEnd(4096, String(Math.floor(random() * 10)));
    rig.secret.pending = value;
    const cut = await cutDuring(rig, `printf %s ${q(value)} | ${RUSTLESS} secret set testbed TESTBED_TOKEN`, 20_000, random);
    rig.secret.required = cut.completed;
    return cut;
  },

  /** todo under POST load from three clients; every 201 is recorded, every other answer counted. */
  async post(rig, random) {
    let cutting = false;
    let sent = 0;
    /** Answers by status; 0 is a request the cut left with no answer. */
    const statuses = {};
    const worker = async (w) => {
      for (let i = 0; !cutting; i++) {
        const title = `pc-${Date.now()}-${w}-${i}`;
        sent++;
        const reply = await rig.call('POST', '/todos', { title }, 30_000);
        // Any 201 that arrived is a promise, however close to the cut: it left the VM before.
        if (reply.status === 201) rig.acked.set(reply.body.id, title);
        statuses[reply.status] = (statuses[reply.status] ?? 0) + 1;
      }
    };
    const workers = [0, 1, 2].map(worker);
    const atMs = 2_000 + Math.floor(random() * 10_000);
    await sleep(atMs);
    await rig.cut();
    cutting = true;
    await Promise.all(workers);
    return { atMs, completed: false, sent, statuses };
  },

  /** hello going idle: frozen after IDLE_S, stopped FROZEN_S later. */
  async idle(rig, random) {
    await rig.call('GET', '/hello/idle');
    const atMs = Math.floor(random() * (IDLE_S + FROZEN_S + 4) * 1000);
    await sleep(atMs);
    await rig.cut();
    return { atMs, completed: false };
  },

  /** `systemctl restart rustless`. */
  async restart(rig, random) {
    return cutDuring(rig, 'systemctl restart rustless.service', 20_000, random);
  },
};

export const MOMENT_NAMES = Object.keys(MOMENTS);

/** A small seeded generator (mulberry32): a run can be repeated with --seed. */
export function seeded(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

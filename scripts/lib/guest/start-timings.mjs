#!/usr/bin/env node
// Runs in a test host (namespace or VM), beside the gateway it measures, so no port forward or
// emulated network sits in the figures: interleaved rounds of four ways a first request meets an
// app (hello, deployed), each on a fresh connection:
//   cold     the app stopped, through the gateway;
//   thaw     the app frozen by the warm tier (the gateway's idle timeout must be short), through the gateway;
//   running  the app up, through the gateway;
//   socket   the app stopped, straight to its socket (systemd starts it): the yardstick a cold start is held to.
//   node start-timings.mjs --port 8080 --rounds 20   -> JSON { cold: [ms], thaw: [...], running: [...], socket: [...] }
// It imports undici from rust-less's own node_modules: run it from the installed package.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';

const { values } = parseArgs({ options: { port: { type: 'string', default: '8080' }, rounds: { type: 'string', default: '20' }, app: { type: 'string', default: 'hello' } } });
const url = `http://127.0.0.1:${values.port}`;
const app = values.app;
const frozenRecord = `/run/rustless/frozen/${app}`;
const appSocket = `/run/rustless/fn/${app}.sock`;

const stop = () => execFileSync('rustless', ['stop', app], { stdio: 'ignore' });

async function viaGateway(name) {
  const t0 = performance.now();
  const response = await fetch(`${url}/hello/${name}`, { headers: { connection: 'close' } });
  await response.text();
  if (response.status !== 200) throw new Error(`${name}: status ${response.status}`);
  return performance.now() - t0;
}

const kinds = {
  cold: async (i) => {
    stop();
    await sleep(200);
    return viaGateway(`cold${i}`);
  },
  thaw: async (i) => {
    await viaGateway(`up${i}`);
    while (!existsSync(frozenRecord)) await sleep(50);
    await sleep(200);
    const t = await viaGateway(`thaw${i}`);
    if (existsSync(frozenRecord)) throw new Error('still frozen after a request');
    return t;
  },
  running: async (i) => {
    await viaGateway(`up${i}`);
    await sleep(200);
    return viaGateway(`running${i}`);
  },
  socket: async (i) => {
    stop();
    await sleep(200);
    const pool = new Pool('http://localhost', { connections: 1, socketPath: appSocket });
    const t0 = performance.now();
    const { statusCode, body } = await pool.request({ method: 'GET', path: `/hello/s${i}`, headers: { 'x-rustless-function': 'Hello', 'x-rustless-params': '{"name":"s"}', connection: 'close' } });
    await body.text();
    const t = performance.now() - t0;
    await pool.close();
    if (statusCode !== 200) throw new Error(`socket-activated start ${i}: status ${statusCode}`);
    return t;
  },
};

const times = { cold: [], thaw: [], running: [], socket: [] };
const order = Object.keys(kinds);
for (let i = 0; i < Number(values.rounds); i++) {
  // Rotated each round, so no kind always follows the same one.
  for (let k = 0; k < order.length; k++) {
    const kind = order[(i + k) % order.length];
    times[kind].push(await kinds[kind](i));
  }
}
console.log(JSON.stringify(times));

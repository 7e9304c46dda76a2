#!/usr/bin/env node
// Makes the sd-notify binding really present in a package directory (default: this one), the
// fix `rustless doctor` names for its `notify` check:
//   node scripts/sd-notify-binding.mjs [--root DIR]
// Plain node, not zx: it must run in any copy of the package. Exits 1 when it is not there.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ensureBinding } from './lib/sd-notify-binding.mjs';

const { values } = parseArgs({ options: { root: { type: 'string' } } });
const root = path.resolve(values.root ?? path.join(import.meta.dirname, '..'));
const result = await ensureBinding(root, { log: (line) => console.log(`sd-notify: ${line}`) });
console.log(`sd-notify: ${result.detail}`);
process.exit(result.ok ? 0 : 1);

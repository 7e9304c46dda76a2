// Turns the kernel's memory controller on for the next boot on Raspberry Pi OS, whose kernels
// boot with it off (`cgroup_disable=memory`, from the device tree): `cgroup_enable=memory` on
// the kernel's command line, which is the one line of /boot/firmware/cmdline.txt. The
// firmware reads only that line, so the file must stay one line. install.mjs
// --enable-memory-cgroup uses it.
import fs from 'node:fs/promises';

export const CMDLINE_FILE = '/boot/firmware/cmdline.txt';
const ENABLE = 'cgroup_enable=memory';
const DISABLE = 'cgroup_disable=memory';

/**
 * Edits `file` so the next boot has the memory controller. Resolves with `{ changed, backup?,
 * line }`; `changed` is false when the line already asks for it. Keeps a copy of the file as it
 * was before the first edit (`<file>.before-rustless`). Rejects, changing nothing, when the file
 * does not hold exactly one line.
 */
export async function enableMemoryCgroup(file = CMDLINE_FILE) {
  const text = await fs.readFile(file, 'utf8');
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  if (lines.length !== 1) throw new Error(`${file} holds ${lines.length} lines; the firmware reads one line only: make it one line by hand, then run this again`);
  const words = lines[0].trim().split(/\s+/);
  // A cgroup_disable=memory of the user's own would win over ours if it came later: it goes.
  const kept = words.filter((word) => word !== DISABLE);
  const enabled = kept.includes(ENABLE) && kept.length === words.length;
  if (enabled) return { changed: false, line: lines[0].trim() };
  const line = [...kept.filter((word) => word !== ENABLE), ENABLE].join(' ');
  const backup = `${file}.before-rustless`;
  // The first original is the one to go back to: a second run does not overwrite it.
  await fs.copyFile(file, backup, fs.constants.COPYFILE_EXCL).catch((error) => {
    if (error.code !== 'EEXIST') throw error;
  });
  // A half-written cmdline.txt would not boot: write a copy, flush it, then rename it over.
  const next = `${file}.rustless-new`;
  const handle = await fs.open(next, 'w');
  try {
    await handle.writeFile(`${line}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.rename(next, file);
  return { changed: true, backup, line };
}

/** True when `file` exists and its line already asks for the memory controller. */
export async function cmdlineEnables(file = CMDLINE_FILE) {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  return text.split(/\s+/).includes(ENABLE);
}

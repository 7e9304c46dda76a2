/**
 * What every test-host suite needs before it boots anything: root, and a built dist/ (the guest
 * installs or runs the built package). Never a silent skip: CI runs as root, and a person
 * without root or a build hears why nothing ran.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Test } from 'tap';

export function requireTestHostPrerequisites(t: Test, root: string): void {
  if (process.getuid?.() !== 0) {
    t.fail('the test host needs root: run the tests as root');
    process.exit(1);
  }
  if (!existsSync(resolve(root, 'dist', 'cli', 'main.js'))) {
    t.fail('dist/ is missing: run `npm run build` first (the test host installs or runs the built package)');
    process.exit(1);
  }
}

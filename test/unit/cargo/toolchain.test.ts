import { existsSync } from 'node:fs';
import t from 'tap';
import { describeToolchain, resolveToolchain } from '../../../src/cargo/toolchain.js';

t.test("the toolchain is a real cargo and rustc, with their versions, target and sysroot", async (t) => {
  const toolchain = await resolveToolchain({ env: { PATH: process.env.PATH } });
  t.notMatch(toolchain.cargo, /\/rustup$/, 'never a rustup proxy: a build user could not run it');
  t.match(toolchain.cargoVersion, /^cargo \d+\.\d+\.\d+/);
  t.match(toolchain.rustcVersion, /^rustc \d+\.\d+\.\d+/);
  t.match(toolchain.release, /^\d+\.\d+\.\d+/);
  t.match(toolchain.host, /^[a-z0-9_]+-[a-z0-9_]+-linux-gnu/);
  t.ok(existsSync(toolchain.sysroot), 'its sysroot exists');
  t.match(describeToolchain(toolchain), /^cargo \d+\.\d+\.\d+.* and rustc \d+\.\d+\.\d+.* in \//);
});

// As root, as the tests run here and in CI: the local backend's builds run as another user.
t.test('as another user: a cargo that user can run, or an error saying which it could not', async (t) => {
  const nobody = { uid: 65534, gid: 65534, user: 'nobody' };
  const toolchain = await resolveToolchain({ env: { PATH: process.env.PATH }, runAs: nobody });
  t.notMatch(toolchain.cargo, /^\/root\//, "never one in root's home");
  await t.rejects(resolveToolchain({ env: { RUSTLESS_CARGO: '/nonexistent/bin/cargo' }, runAs: nobody }), {
    code: 'RUSTLESS_BUILD_FAILED',
    message: /^no cargo to build with: cannot run \/nonexistent\/bin\/cargo as the build user nobody \(.*ENOENT.*\); RUSTLESS_CARGO=\/nonexistent\/bin\/cargo must name a cargo that the build user nobody can run$/,
  });
});

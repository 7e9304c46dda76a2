import t from 'tap';
import { MIN_SYSTEMD, systemdVersionCheck } from '../../../src/cli/doctor-checks.js';

t.test('the systemd backend needs a systemd that knows every setting its units use', async (t) => {
  t.match(systemdVersionCheck('systemd 257 (257.13-1~deb13u1)'), { name: 'systemd-run', ok: true, detail: 'systemd 257 (257.13-1~deb13u1)' }, "Debian trixie's");
  t.equal(systemdVersionCheck(`systemd ${MIN_SYSTEMD} (${MIN_SYSTEMD}.1-1)`).ok, true, 'the oldest that knows PrivateTmp=disconnected');
  const bookworm = systemdVersionCheck('systemd 252 (252.39-1~deb12u1)');
  t.equal(bookworm.ok, false, "bookworm's 252 would ignore PrivateTmp=disconnected and RestartSteps=");
  t.match(bookworm.fix, /systemd 256 or newer.*local backend/, 'the fix says what is needed, and the way out');
  t.equal(systemdVersionCheck('something else').ok, false, 'an unreadable version is not taken as new enough');
});

import t from 'tap';
import { checkSummary } from '../../../../src/backends/systemd/image-repair.js';

const LAYER = 'fc76bf886227951644433fe681d0b11c3b2c1859284fe576475c920261ebd41b';
const IMAGE = '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';

t.test("the recovery line names what podman system check found and removed, not its reasons", async (t) => {
  const report = [
    `Damaged layer ${LAYER}:`,
    `\tlayer ${LAYER}: checksum mismatch for "runner"`,
    `Damaged image ${IMAGE}:`,
    `\tlayer ${LAYER} not known`,
    `Deleted damaged layer ${LAYER}`,
    `Deleted damaged image ${IMAGE}`,
    '',
  ].join('\n');
  t.equal(checkSummary(report), 'Damaged layer fc76bf886227, Damaged image 0123456789ab, Deleted damaged layer fc76bf886227, Deleted damaged image 0123456789ab');
});

t.test('a long report is cut, saying how much', async (t) => {
  const report = Array.from({ length: 9 }, (_, i) => `Damaged container c${i}:\n\treason ${i}`).join('\n');
  t.match(checkSummary(report), /^Damaged container c0, .*Damaged container c5 \(and 3 more\)$/);
});

t.test('a report of only indented lines falls back to its first line', async (t) => {
  t.equal(checkSummary('  something odd\n  and more\n'), 'something odd (and 1 more lines)');
});

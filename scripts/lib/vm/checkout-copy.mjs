// rust-less from the checkout a VM is shown onto the guest's own disk, as a Pi gets it from the package.

/** npm pack's fixed modification time: every file of a package has it. */
const NPM_PACK_MTIME = '1985-10-26 08:15:00 UTC';

/**
 * The guest command that copies the checkout at `src` to `dest`, without what a package leaves
 * out (node_modules, .git, tap's and cargo's output, runner/'s lockfile), every file with npm
 * pack's time: runner/'s times are part of the shared dependencies' key (cargo's fingerprints
 * hold them), so the copy asks for the layer an earlier VM kept, whatever a clone's times are.
 * @param {string} src
 * @param {string} dest
 * @returns {string}
 */
export function copyCheckoutCommand(src, dest) {
  return `mkdir -p ${dest} && cd ${src} && tar --mtime='${NPM_PACK_MTIME}' --exclude=./node_modules --exclude=./.git --exclude=./.tap --exclude='*/target' --exclude=./runner/Cargo.lock -cf - . | tar -C ${dest} -xf -`;
}

/**
 * What a build runs, in the order the builder calls it: extracting the upload, reading its
 * crate and rustless.toml, generating the runner crate, preparing the shared dependencies.
 * builder.ts loads this module at the first build, not at start: a gateway that only serves
 * requests, as one does after every boot until the next deploy, then never loads these modules
 * or smol-toml, which they parse TOML with (docs/raspberry-pi.md, where the gateway's memory goes).
 */
export { unpackUpload } from './unpack.js';
export { distinctFunctions, generateRunnerCrate, inspectUserCrate } from './runner-crate.js';
export { MANIFEST_FILE, parseManifest } from '../manifest/manifest.js';
export { prepareDepsCrates } from './deps-crates.js';

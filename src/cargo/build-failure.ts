/**
 * Says what a failed build needs, above the compiler's own words: a crate the host's crate
 * source has not got (the `apt install` line, or how to allow crates.io), a feature newer than
 * the rustc the build ran (and how to give builds a newer one), a compiler killed for memory.
 */
import { debianPackageFor } from './crate-names.js';
import type { Toolchain } from './toolchain.js';

export interface FailureContext {
  /** Where crates came from: `debian` (the registry directory, offline) or `crates-io`. */
  crateSource?: 'debian' | 'crates-io' | undefined;
  /** The Debian registry directory, for the message. */
  registry?: string | undefined;
  toolchain?: Pick<Toolchain, 'cargo' | 'rustcVersion' | 'release'> | undefined;
}

/** The advice for a failed build's compiler output, one paragraph per cause found; empty when none fits. */
export function explainBuildFailure(output: string, context: FailureContext): string[] {
  const hints: string[] = [];
  const missing = [...new Set([...output.matchAll(/no matching package (?:named|found)[^`]*`([A-Za-z0-9_-]+)`/g)].map((m) => m[1]!))];
  for (const crate of missing) hints.push(missingCrate(crate, context));
  const version = /failed to select a version for the requirement `([A-Za-z0-9_-]+) = "([^"]+)"`/.exec(output);
  if (version && !missing.includes(version[1]!)) hints.push(missingVersion(version[1]!, version[2]!, context));
  if (newerRustNeeded(output)) hints.push(newerRust(output, context));
  return hints;
}

/** Whether the output shows a crate that needs a newer Rust than the one that ran. */
export function newerRustNeeded(output: string): boolean {
  return (
    /^error\[E0658\]/m.test(output) ||
    /is not yet stable as a const fn/.test(output) ||
    /requires rustc [0-9.]+/.test(output) ||
    /feature `edition20\d\d` is required/.test(output) ||
    /this version of Cargo is older than the `20\d\d` edition/.test(output)
  );
}

function missingCrate(crate: string, { crateSource, registry }: FailureContext): string {
  if (crateSource === 'crates-io') {
    return `rustless: the crate \`${crate}\` was not found on crates.io: check its name in Cargo.toml.`;
  }
  return (
    `rustless: the crate \`${crate}\` is not in this host's crate registry (${registry ?? 'Debian\'s'}, offline). ` +
    `Install it on the gateway's machine: apt install ${debianPackageFor(crate)}\n` +
    `  or allow crates.io: start the gateway with RUSTLESS_CRATES=crates-io and set \`network = true\` under [container] in the app's rustless.toml.`
  );
}

function missingVersion(crate: string, requirement: string, { crateSource, registry }: FailureContext): string {
  if (crateSource === 'crates-io') return `rustless: no version of \`${crate}\` on crates.io matches "${requirement}".`;
  return (
    `rustless: this host's crate registry (${registry ?? 'Debian\'s'}, offline) has no \`${crate}\` matching "${requirement}". ` +
    `Relax the requirement in Cargo.toml, install a newer ${debianPackageFor(crate)}, or allow crates.io ` +
    `(RUSTLESS_CRATES=crates-io on the gateway and \`network = true\` under [container]).`
  );
}

function newerRust(output: string, { toolchain }: FailureContext): string {
  // cargo up to 1.7x: `requires rustc 1.80 or newer`; later: `app@0.1.0 requires rustc 1.80`.
  const wanted = /requires rustc ([0-9]+(?:\.[0-9]+)*)/.exec(output)?.[1];
  const used = toolchain ? `${toolchain.rustcVersion} (${toolchain.cargo})` : 'the host\'s rustc';
  return (
    `rustless: the crate needs a newer Rust${wanted ? ` (rustc ${wanted} or newer)` : ''} than this build's ${used}. ` +
    `Give builds a newer toolchain: install one the build user can run, outside /root and /home ` +
    `(for example RUSTUP_HOME=/opt/rust CARGO_HOME=/opt/rust rustup toolchain install stable), then start the gateway ` +
    `with RUSTLESS_CARGO=/opt/rust/toolchains/<toolchain>/bin/cargo (or --cargo); \`rustless doctor\` shows what builds will use.`
  );
}

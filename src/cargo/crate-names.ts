/** Debian's name for the package that puts `crate` in its crate registry: `librust-<name, _ as ->-dev`. */
export function debianPackageFor(crate: string): string {
  return `librust-${crate.toLowerCase().replaceAll('_', '-')}-dev`;
}

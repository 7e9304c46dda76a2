/** The crates cargo compiled, in order, from a build log's `Compiling NAME vX` lines (what src/cargo/run-cargo.ts counts). */
export function compiledCrates(output: string): string[] {
  return [...output.matchAll(/^\s*Compiling (\S+) v/gm)].map((m) => m[1]!);
}

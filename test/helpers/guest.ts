/**
 * What the e2e tests use of a booted test host (scripts/lib/testhost.mjs is plain JavaScript):
 * `boot()`'s result, typed.
 */
export interface GuestResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface Guest {
  /** The guest's systemd, as a pid on this machine. */
  pid: number;
  run(cmd: string | string[], options?: { input?: string; timeoutMs?: number }): Promise<GuestResult>;
  writeFile(path: string, content: string): Promise<void>;
}

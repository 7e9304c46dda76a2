/** What a build tells its watchers, in order; the admin API streams these as NDJSON. */
export type BuildEvent =
  | { type: 'status'; status: 'queued' | 'building' }
  | { type: 'line'; text: string }
  /** cargo's bar: `done` of `total` units ready (prebuilt ones count); `compiled`: crates this build compiled so far. */
  | { type: 'progress'; done: number; total: number; compiled?: number }
  | { type: 'done'; status: 'succeeded' | 'failed'; error?: string };

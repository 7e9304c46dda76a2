/** What a build tells its watchers, in order; the admin API streams these as NDJSON. */
export type BuildEvent =
  | { type: 'status'; status: 'queued' | 'building' }
  | { type: 'line'; text: string }
  | { type: 'progress'; done: number; total: number }
  | { type: 'done'; status: 'succeeded' | 'failed'; error?: string };

import { memoryCell, memoryNote } from '../../api/memory-note.js';
import { runtimeNote } from '../../api/runtime-note.js';
import type { AppSummary } from '../../api/types.js';
import type { CommandContext } from '../command.js';
import { printJson, table } from '../output.js';

export async function ls({ client, flags }: CommandContext): Promise<number> {
  const apps = await (await client()).apps();
  if (flags.json) {
    printJson(apps);
    return 0;
  }
  if (apps.length === 0) {
    process.stdout.write('no apps yet: deploy one with `rustless deploy DIR`\n');
    return 0;
  }
  const rows = [['APP', 'STATUS', 'BUILD', 'MEMORY', 'REQUESTS', 'P50', 'ROUTES', 'NOTE']];
  for (const app of apps) rows.push(row(app));
  process.stdout.write(`${table(rows)}\n`);
  // The reason is the backend's, the same for every app: said once, below the table.
  const unlimited = apps.find((app) => !app.memory.enforced);
  if (unlimited) process.stdout.write(`${memoryNote({ ...unlimited.memory, limit: null })}\n`);
  return 0;
}

function row(app: AppSummary): string[] {
  const routes = app.routes.map((r) => `${r.methods.join(',')} ${r.path}${r.fallback ? ' (fallback)' : ''}`).join('; ');
  const p50 = app.stats.latencyMsP50 === null ? '-' : `${app.stats.latencyMsP50}ms`;
  return [app.name, app.status, app.currentBuild === null ? '-' : `#${app.currentBuild}`, memoryCell(app.memory), String(app.stats.requests), p50, routes, runtimeNote(app.runtime) ?? ''];
}

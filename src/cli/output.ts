/** Small helpers for what the CLI prints: plain text for people, JSON for scripts. */
import { isRustlessError } from '../errors.js';

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Left-aligned columns; the last column is not padded. */
export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n');
}

/** Prints an error the way a person wants to read it, and returns the exit code. */
export function reportError(error: unknown): number {
  if (isRustlessError(error)) {
    process.stderr.write(`rustless: ${error.message}\n`);
    return 1;
  }
  process.stderr.write(`rustless: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  return 1;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** `text` as one word for /bin/sh: single-quoted, its own single quotes escaped. */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

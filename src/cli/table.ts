/** Left-aligned columns separated by two spaces, one line per row, header first. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** Query results as a table: NULL for null, blobs as X'hex', "(no rows)" when empty. */
export function formatRows(columns: string[], rows: Array<Record<string, unknown>>): string {
  if (rows.length === 0) return `${columns.join('  ')}\n(no rows)\n`;
  const cell = (v: unknown) => (v === null ? 'NULL' : Buffer.isBuffer(v) ? `X'${v.toString('hex')}'` : String(v));
  return formatTable(columns, rows.map((r) => columns.map((c) => cell(r[c]))));
}

// How a database value (as the node's JSON carries it: see src/ui/wire-value.ts) is shown.
import { h } from './dom.js';

const FOLD_CHARS = 80;

// Numbers and times are formatted by hand: the first toLocaleString in a page loads the locale
// data, measured at 36–86 ms here, most of the time a table page takes to show its rows.

/** 1234567 as "1,234,567". */
export function thousands(n) {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** A moment as "2026-12-01 07:25:02 UTC" (as `litefleet status` and `backup ls` print them). */
export function when(ms) {
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** A value as text for an input or a title: whole where the wire carries it whole. */
export function valueText(v) {
  if (v === null) return 'NULL';
  if (typeof v !== 'object') return String(v);
  if ('$int' in v) return v.$int;
  if ('$real' in v) return v.$real;
  if ('$text' in v) return v.$text;
  return v.$blob;
}

/** A value in a grid cell: NULL marked, blobs as size and hex, long text folded. */
export function valueCell(v) {
  if (v === null) return h('span.null', {}, 'NULL');
  if (typeof v === 'number') return h('span.num', {}, String(v));
  if (typeof v === 'string') return v.length > FOLD_CHARS ? folded(v, v.length) : v;
  if ('$int' in v) return h('span.num', {}, v.$int);
  if ('$real' in v) return h('span.num', {}, v.$real);
  if ('$text' in v) return folded(v.$text, v.length);
  return h('span.blob', { title: `${v.size} bytes` }, h('span.size', {}, `${v.size} B`), ' ', v.$blob, v.truncated ? '…' : '');
}

function folded(text, length) {
  return h('details.fold', {}, h('summary', {}, `${text.slice(0, FOLD_CHARS)}… (${thousands(length)} chars)`), text, text.length < length ? '…' : '');
}

/** A grid of rows (arrays of values) under column names. */
export function grid(columns, rows, onRowClick) {
  return h(
    'table.grid',
    {},
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', {}, c)))),
    h(
      'tbody',
      {},
      rows.map((r, i) => h('tr', onRowClick ? { onclick: () => onRowClick(i), class: 'clickable' } : {}, r.map((v) => h('td', {}, valueCell(v))))),
    ),
  );
}

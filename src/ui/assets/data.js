// The data browser: databases and tables with row counts, a table's rows paged by key (so any page
// opens as fast as the first), sorted and filtered by column, edits that go to the primary, and
// each table's schema.
import { get, post, ready, session } from './api.js';
import { h, replace } from './dom.js';
import { grid, thousands, valueText } from './values.js';

const OPS = [
  ['eq', '='],
  ['ne', '≠'],
  ['lt', '<'],
  ['le', '≤'],
  ['gt', '>'],
  ['ge', '≥'],
  ['contains', 'contains'],
  ['starts', 'starts with'],
  ['null', 'is NULL'],
  ['notnull', 'is not NULL'],
];
const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

const link = (...parts) => `#/${parts.map(encodeURIComponent).join('/')}`;

/** A row count as the node reports it (exact, or "≥" with an estimate). */
export function formatCount(rows) {
  if (!rows) return '';
  if (!rows.atLeast) return `${thousands(rows.count)} rows`;
  return `≥ ${thousands(rows.count)} rows${rows.estimate ? ` (≈ ${thousands(rows.estimate)} by max rowid)` : ''}`;
}

/** Renders the data view for `[db, table]` into `root`. */
export function dataView(root, [db, table]) {
  const side = h('aside.tables', {}, 'Loading…');
  const body = h('section.table-view');
  replace(root, h('div.split', {}, side, body));
  if (!db) {
    ready.then(() => {
      const dbs = session.databases;
      replace(side, h('h2', {}, 'Databases'), h('ul', {}, dbs.map((d) => h('li', {}, h('a', { href: link('data', d) }, d)))));
      replace(body, h('p', {}, dbs.length ? 'Choose a database.' : 'This node has no database yet.'));
    });
    return;
  }
  // The table's rows are asked for first: the counts of the list take longer.
  let view;
  if (table) view = tableView(body, db, table);
  else replace(body, h('p', {}, 'Choose a table.'));
  get('tables', { db })
    .then((tables) => {
      view?.showCount(tables.find((t) => t.name === table)?.rows);
      replace(
        side,
        h('h2', {}, db),
        h('p', {}, h('a', { href: link('console', db) }, 'SQL console'), ' · ', h('a', { href: link('backups', db) }, 'Backups')),
        h(
          'ul',
          {},
          tables.map((t) => h(`li${t.name === table ? '.active' : ''}`, {}, h('a', { href: link('data', db, t.name) }, t.name), t.type === 'view' ? h('span.tag', {}, 'view') : '', h('span.count', {}, formatCount(t.rows)))),
        ),
      );
    })
    .catch((err) => replace(side, h('p.error', {}, err.message)));
}

/** Renders one table's rows, filters, editor and schema; returns what sets its row count (from the table list). */
function tableView(root, db, table) {
  const state = { sort: undefined, desc: false, filters: [], cursor: undefined, history: [], page: 1 };
  const title = h('h1', {}, table);
  const count = h('span.count');
  const status = h('p.status', { role: 'status' });
  const toolbar = h('div.toolbar');
  const rowsBox = h('div.rows', {}, 'Loading…');
  const pager = h('div.pager');
  const editor = h('div.editor');
  const schemaBox = h('div.schema');
  let shape;
  let page;
  let rendered = false;
  const tabs = h('div.tabs', {}, h('a', { href: '#', onclick: (e) => (e.preventDefault(), show('rows')) }, 'Rows'), ' ', h('a', { href: '#', onclick: (e) => (e.preventDefault(), show('schema')) }, 'Schema'));
  const rowsTab = h('div', {}, toolbar, status, editor, rowsBox, pager);
  replace(root, h('div.title', {}, title, count), tabs, rowsTab, schemaBox);
  schemaBox.hidden = true;
  function show(which) {
    rowsTab.hidden = which !== 'rows';
    schemaBox.hidden = which !== 'schema';
  }

  async function load() {
    try {
      const params = { db, table, sort: state.sort, desc: state.desc ? '1' : undefined, cursor: state.cursor, limit: 100 };
      if (state.filters.length) params.filter = JSON.stringify(state.filters);
      page = await get('rows', params);
      drawRows();
      if (!rendered) {
        rendered = true;
        performance.mark('studio:rows-rendered');
      }
    } catch (err) {
      replace(rowsBox, h('p.error', {}, err.message));
    }
  }

  function drawRows() {
    const header = page.columns.map((c) => {
      const arrow = state.sort === c ? (state.desc ? ' ▼' : ' ▲') : '';
      return h('button.sort', { type: 'button', title: `sort by ${c}`, onclick: () => sortBy(c) }, c + arrow);
    });
    const table = grid(header, page.rows.map((r) => r.values), (i) => editRow(page.rows[i]));
    const first = (state.page - 1) * 100 + 1;
    replace(rowsBox, page.rows.length ? table : h('p', {}, 'No rows.'));
    replace(
      pager,
      h('button', { type: 'button', disabled: state.history.length === 0, onclick: () => go('first') }, '« First'),
      h('button', { type: 'button', disabled: state.history.length === 0, onclick: () => go('prev') }, '◀ Previous'),
      h('span.range', {}, page.rows.length ? `rows ${thousands(first)}–${thousands(first + page.rows.length - 1)}` : ''),
      h('button', { type: 'button', disabled: !page.next, onclick: () => go('next') }, 'Next ▶'),
    );
  }

  function go(where) {
    if (where === 'next') {
      state.history.push(state.cursor);
      state.cursor = page.next;
      state.page++;
    } else if (where === 'prev') {
      state.cursor = state.history.pop();
      state.page--;
    } else {
      state.history = [];
      state.cursor = undefined;
      state.page = 1;
    }
    load();
  }

  function sortBy(c) {
    if (state.sort !== c) [state.sort, state.desc] = [c, false];
    else if (!state.desc) state.desc = true;
    else [state.sort, state.desc] = [undefined, false];
    go('first');
  }

  function drawToolbar() {
    const column = h('select', { 'aria-label': 'filter column' }, shape.columns.map((c) => h('option', { value: c.name }, c.name)));
    const op = h('select', { 'aria-label': 'filter operator' }, OPS.map(([v, label]) => h('option', { value: v }, label)));
    const value = h('input', { type: 'text', placeholder: 'value', 'aria-label': 'filter value' });
    const add = h('form.filter', {
      onsubmit: (e) => {
        e.preventDefault();
        const f = { column: column.value, op: op.value };
        if (op.value !== 'null' && op.value !== 'notnull') f.value = value.value;
        state.filters.push(f);
        drawToolbar();
        go('first');
      },
    }, column, op, value, h('button', { type: 'submit' }, 'Filter'));
    const chips = state.filters.map((f, i) =>
      h('span.chip', {}, `${f.column} ${OPS.find(([v]) => v === f.op)[1]} ${f.value ?? ''}`, h('button', { type: 'button', title: 'remove filter', onclick: () => (state.filters.splice(i, 1), drawToolbar(), go('first')) }, '×')),
    );
    const editable = !session.readOnly && shape.type === 'table' && shape.key.length > 0;
    replace(toolbar, add, chips, editable ? h('button', { type: 'button', onclick: () => editRow(undefined) }, '+ Insert row') : '');
  }

  function drawSchema() {
    replace(
      schemaBox,
      h('table.grid', {}, h('thead', {}, h('tr', {}, ['Column', 'Type', 'Not null', 'Default', 'Primary key', 'Generated'].map((c) => h('th', {}, c)))),
        h('tbody', {}, shape.columns.map((c) => h('tr', {}, h('td', {}, c.name), h('td', {}, c.type), h('td', {}, c.notNull ? 'yes' : ''), h('td', {}, c.default ?? ''), h('td', {}, c.pk ? String(c.pk) : ''), h('td', {}, c.generated ? 'yes' : ''))))),
      h('p', {}, shape.type === 'view' ? 'A view (no key: paged by offset, not editable).' : `Paged and edited by ${shape.key.join(', ')}${shape.withoutRowid ? ' (WITHOUT ROWID)' : ''}.`),
      shape.schema.map((s) => h('pre.sql', {}, s)),
    );
  }

  async function editRow(row) {
    if (!shape) return;
    const readOnly = session.readOnly || shape.type !== 'table' || shape.key.length === 0;
    let values = shape.columns.map(() => undefined);
    if (row) {
      if (shape.key.length === 0) return;
      try {
        values = (await get('row', { db, table, key: JSON.stringify(row.key) })).values;
      } catch (err) {
        status.textContent = err.message;
        return;
      }
    }
    const fields = shape.columns.map((c, i) => {
      const v = values[i];
      const isBlob = (v !== null && typeof v === 'object' && '$blob' in v) || /BLOB/i.test(c.type);
      const truncated = v !== null && typeof v === 'object' && (v.truncated || '$text' in v);
      const input = h('textarea', { name: c.name, rows: 1, disabled: readOnly || c.generated || truncated, value: v === undefined || v === null ? '' : valueText(v) });
      const isNull = h('input', { type: 'checkbox', checked: v === null, disabled: readOnly || c.generated || truncated, 'aria-label': `${c.name} is NULL` });
      return { c, v, input, isNull, isBlob, el: h('label.field', {}, h('span.name', {}, c.name, h('small', {}, ` ${c.type || 'any'}${isBlob ? ' · hex' : ''}${c.generated ? ' · generated' : ''}${truncated ? ' · too large to edit here' : ''}`)), input, h('span.nullbox', {}, isNull, ' NULL')) };
    });
    const wire = (f) => {
      if (f.isNull.checked) return null;
      const text = f.input.value;
      if (f.isBlob) return { $blob: text.replace(/\s+/g, '') };
      const wasNumber = typeof f.v === 'number' || (f.v && typeof f.v === 'object' && ('$int' in f.v || '$real' in f.v));
      if (wasNumber && NUMBER.test(text.trim())) return /^[+-]?\d+$/.test(text.trim()) ? { $int: text.trim() } : { $real: text.trim() };
      return text;
    };
    const changed = (f) => {
      if (row === undefined) return f.isNull.checked || f.input.value !== '';
      return (f.v === null) !== f.isNull.checked || (!f.isNull.checked && f.input.value !== (f.v === null ? '' : valueText(f.v)));
    };
    const submit = async (action) => {
      const payload = { db, table, action };
      if (action !== 'insert') payload.key = row.key;
      if (action !== 'delete') payload.values = Object.fromEntries(fields.filter((f) => !f.c.generated && changed(f)).map((f) => [f.c.name, wire(f)]));
      if (action === 'delete' && !confirm('Delete this row? The delete goes to the primary and is replicated everywhere.')) return;
      await write(payload);
    };
    replace(
      editor,
      h('form.card', { onsubmit: (e) => (e.preventDefault(), submit(row ? 'update' : 'insert')) },
        h('h2', {}, row ? `Row ${row.key.map(valueText).join(', ')}` : 'New row'),
        fields.map((f) => f.el),
        readOnly ? h('p', {}, session.readOnly ? 'This studio is read-only.' : 'This table cannot be edited here.') : '',
        h('div.actions', {},
          readOnly ? '' : h('button', { type: 'submit' }, row ? 'Save' : 'Insert'),
          readOnly || !row ? '' : h('button.danger', { type: 'button', onclick: () => submit('delete') }, 'Delete'),
          h('button', { type: 'button', onclick: () => replace(editor) }, 'Close'))),
    );
    editor.scrollIntoView({ block: 'nearest' });
  }

  async function write(payload) {
    status.textContent = 'Sending to the primary…';
    try {
      const res = await post('edit', payload);
      status.textContent = `Committed on the primary as TXID ${res.txid} (${res.changes} row${res.changes === 1 ? '' : 's'} changed); waiting for this node…`;
      const here = await get('wait', { db, txid: res.txid });
      status.textContent = `Committed on the primary as TXID ${res.txid} (${res.changes} row${res.changes === 1 ? '' : 's'} changed). This node (${session.role}) has TXID ${here.txid}.`;
      replace(editor);
      load();
    } catch (err) {
      status.textContent = `Not saved: ${err.message}`;
    }
  }

  load();
  Promise.all([get('table', { db, table }), ready])
    .then(([t]) => {
      shape = t;
      drawToolbar();
      drawSchema();
    })
    .catch((err) => replace(toolbar, h('p.error', {}, err.message)));
  return { showCount: (rows) => (count.textContent = formatCount(rows)) };
}

// The SQL console: reads run on this node's copy; a script with any write goes to the primary as
// one transaction. Errors are shown as SQLite words them.
import { get, post, ready, session } from './api.js';
import { h, replace } from './dom.js';
import { grid, thousands } from './values.js';

/** Renders the console for database `db` into `root`. */
export async function consoleView(root, [name]) {
  await ready;
  const db = name ?? session.databases[0];
  if (!db) {
    replace(root, h('h1', {}, 'SQL console'), h('p', {}, 'This node has no database yet.'));
    return;
  }
  const picker = h('select', { 'aria-label': 'database', onchange: () => (location.hash = `#/console/${encodeURIComponent(picker.value)}`) }, session.databases.map((d) => h('option', { value: d, selected: d === db }, d)));
  const sql = h('textarea#sql', { rows: 6, spellcheck: 'false', placeholder: 'SELECT … (Ctrl+Enter runs)', 'aria-label': 'SQL' });
  const out = h('div#console-output');
  const run = async () => {
    replace(out, h('p.status', {}, 'Running…'));
    const started = performance.now();
    try {
      const res = await post('console', { db, sql: sql.value });
      if (res.kind === 'rows') {
        replace(
          out,
          res.results.map((r) =>
            h('div.result', {},
              h('pre.sql', {}, r.sql),
              h('p.status', {}, `${thousands(r.rows.length)} row${r.rows.length === 1 ? '' : 's'}${r.truncated ? ' (the first ones: the console shows at most 1,000 rows)' : ''} in ${r.ms.toFixed(1)} ms on this node`),
              grid(r.columns, r.rows)),
          ),
        );
      } else {
        const p = h('p.status', {}, `Committed on the primary as TXID ${res.txid}: ${res.statements} statement${res.statements === 1 ? '' : 's'}, ${res.changes} row${res.changes === 1 ? '' : 's'} changed, in ${res.ms.toFixed(1)} ms; waiting for this node…`);
        replace(out, p);
        await get('wait', { db, txid: res.txid });
        p.textContent = `Committed on the primary as TXID ${res.txid}: ${res.statements} statement${res.statements === 1 ? '' : 's'}, ${res.changes} row${res.changes === 1 ? '' : 's'} changed. This node has it (${(performance.now() - started).toFixed(0)} ms in all).`;
      }
    } catch (err) {
      replace(out, h('pre.error', { role: 'alert' }, err.message));
    }
  };
  sql.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) run();
  });
  replace(
    root,
    h('h1', {}, 'SQL console'),
    h('p', {}, picker, ' Reads run on this node; ', session.readOnly ? 'writes are refused (read-only studio).' : 'a script with any write runs on the primary as one transaction.'),
    sql,
    h('div.actions', {}, h('button#run', { type: 'button', onclick: run }, 'Run')),
    out,
  );
}

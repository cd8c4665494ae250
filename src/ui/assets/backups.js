// Backups: each generation with its first and last restore point, a timeline of restore points,
// and a download of the database as it was at a TXID or a moment (restored on the node).
import { get, ready, session } from './api.js';
import { h, replace, svg } from './dom.js';
import { when } from './values.js';

/** Renders the backups of database `db` into `root`. */
export async function backupsView(root, [name]) {
  await ready;
  const db = name ?? session.databases[0];
  if (!db) {
    replace(root, h('h1', {}, 'Backups'), h('p', {}, 'This node has no database yet.'));
    return;
  }
  const body = h('div', {}, 'Loading…');
  const picker = h('select', { 'aria-label': 'database', onchange: () => (location.hash = `#/backups/${encodeURIComponent(picker.value)}`) }, session.databases.map((d) => h('option', { value: d, selected: d === db }, d)));
  replace(root, h('h1', {}, 'Backups'), h('p', {}, picker), body);
  get('backups', { db })
    .then((b) => {
      if (!b.enabled) return replace(body, h('p', {}, 'This cluster has no backup: section in its config.'));
      if (!b.generations.length) return replace(body, h('p', {}, `No backup of ${db} yet.`));
      replace(
        body,
        h('table.grid', {},
          h('thead', {}, h('tr', {}, ['Generation', 'First restore point', 'Last restore point', 'Files', 'Size'].map((c) => h('th', {}, c)))),
          h('tbody', {}, b.generations.map((g) => h('tr', {}, h('td', {}, g.generation), h('td', {}, `TXID ${g.first.txid} · ${when(g.first.timestamp)}`), h('td', {}, `TXID ${g.last.txid} · ${when(g.last.timestamp)}`), h('td', {}, String(g.files)), h('td', {}, `${(g.bytes / 1024 / 1024).toFixed(2)} MB`))))),
        timeline(b),
        download(db, b.generations),
      );
    })
    .catch((err) => replace(body, h('p.error', {}, err.message)));
}

function timeline(b) {
  const W = 720;
  const H = 60;
  const from = Math.min(...b.generations.map((g) => g.first.timestamp));
  const to = Math.max(...b.generations.map((g) => g.last.timestamp), from + 1);
  const x = (t) => 10 + ((t - from) / (to - from)) * (W - 20);
  return h(
    'figure.chart',
    {},
    h('figcaption', {}, `Restore points: every transaction from the first to the last point of each generation; ticks are the newest ${b.timeline.length} backup objects${b.timelineTruncated ? ' (older ones not drawn)' : ''}.`),
    svg('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': 'restore point timeline' },
      b.generations.map((g) => svg('rect', { x: x(g.first.timestamp), y: 20, width: Math.max(2, x(g.last.timestamp) - x(g.first.timestamp)), height: 16, class: 'generation' }, svg('title', {}, `generation ${g.generation}: TXID ${g.first.txid}–${g.last.txid}`))),
      b.timeline.map((p) => svg('line', { x1: x(p.timestamp), x2: x(p.timestamp), y1: 14, y2: 42, class: `tick ${p.kind}` }, svg('title', {}, `${p.kind} TXID ${p.minTxid}–${p.maxTxid} at ${when(p.timestamp)}`))),
      svg('text', { x: 10, y: 56, class: 'axis' }, when(from)),
      svg('text', { x: W - 10, y: 56, class: 'axis', 'text-anchor': 'end' }, when(to))),
  );
}

function download(db, generations) {
  const last = generations[generations.length - 1].last;
  const txid = h('input', { type: 'number', min: 1, placeholder: String(last.txid), 'aria-label': 'TXID' });
  const when = h('input', { type: 'datetime-local', step: 1, 'aria-label': 'moment' });
  const go = (e) => {
    e.preventDefault();
    const q = new URLSearchParams({ db });
    if (txid.value) q.set('txid', txid.value);
    else if (when.value) q.set('timestamp', new Date(when.value).toISOString());
    // A navigation, so the browser saves the restored file as it streams in.
    location.href = `/ui/api/backups/download?${q}`;
  };
  return h('form.card', { onsubmit: go },
    h('h2', {}, 'Download the database as it was at…'),
    h('label', {}, 'TXID ', txid), ' or ', h('label', {}, 'moment ', when),
    h('button', { type: 'submit' }, 'Restore and download'),
    h('p', {}, 'Leave both empty for the newest point. The node restores from the backup into a temporary file, verifies it, and sends it.'));
}

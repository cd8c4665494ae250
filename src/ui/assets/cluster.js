// The cluster: every node with its role, position, lag and connected-since, live from the node's
// event stream, and charts of replication lag and write rate over the last minutes.
import { post, ready, session } from './api.js';
import { h, replace, svg } from './dom.js';
import { when } from './values.js';

const WINDOW_MS = 5 * 60_000;
// Samples live in the page, so a reload starts the charts afresh.
const samples = [];

/** Renders the cluster view into `root`; returns what stops its updates. */
export function clusterView(root) {
  const status = h('p.status', { role: 'status' });
  const table = h('div#nodes', {}, h('p', {}, 'Loading…'));
  const charts = h('div.charts');
  replace(root, h('h1', {}, 'Cluster'), table, charts, status);
  let rendered = false;
  let last;

  const events = new EventSource('/ui/api/events');
  events.addEventListener('info', async (e) => {
    const info = JSON.parse(e.data);
    await ready;
    sample(info, last);
    last = info;
    replace(table, nodesTable(info, status));
    replace(charts, chart('Replication lag (ms, worst replica)', 'lag', 'ms'), chart('Writes (transactions/s)', 'rate', 'tx/s'));
    if (!rendered) {
      rendered = true;
      performance.mark('studio:cluster-rendered');
    }
  });
  events.addEventListener('error', () => {
    if (events.readyState === EventSource.CLOSED) status.textContent = 'The event stream closed; reload the page.';
  });
  return () => events.close();
}

function sample(info, prev) {
  const primary = info.nodes.find((n) => n.role === 'primary');
  const total = (n) => (n ? n.databases.reduce((s, d) => s + d.txid, 0) : 0);
  const replicas = info.nodes.filter((n) => n.role === 'replica');
  const lag = Math.max(0, ...replicas.flatMap((n) => n.databases.map((d) => d.lagMs)));
  let rate = 0;
  const prevPrimary = prev?.nodes.find((n) => n.role === 'primary');
  if (prev && primary && prevPrimary && info.at > prev.at) rate = Math.max(0, ((total(primary) - total(prevPrimary)) * 1000) / (info.at - prev.at));
  samples.push({ at: info.at, lag, rate });
  while (samples.length && samples[0].at < info.at - WINDOW_MS) samples.shift();
}

function nodesTable(info, status) {
  const since = (ms) => (ms === null ? '–' : when(ms));
  const rows = info.nodes.map((n) => {
    const self = n.id === info.node.id;
    const canHandoff = !session.readOnly && n.role === 'replica' && n.candidate === true;
    return h(
      `tr.${n.role}`,
      { 'data-node': n.id },
      h('td', {}, n.id, self ? h('span.tag', {}, 'this node') : ''),
      h('td', {}, n.role === 'primary' ? h('strong.primary-badge', {}, '★ PRIMARY') : 'replica'),
      h('td', {}, n.url ?? '–'),
      h('td', {}, n.databases.map((d) => h('div', {}, `${d.name} @ TXID ${d.txid}`))),
      h('td', {}, n.role === 'primary' ? '–' : n.databases.map((d) => h('div', {}, `${d.lagTxids} tx · ${d.lagMs} ms`))),
      h('td', {}, since(n.connectedSince)),
      h('td', {}, canHandoff ? h('button', { type: 'button', onclick: () => handoff(n, status) }, 'Hand off to this node') : ''),
    );
  });
  return h(
    'table.grid.nodes',
    {},
    h('thead', {}, h('tr', {}, ['Node', 'Role', 'URL', 'Position', 'Lag', 'Connected since', ''].map((c) => h('th', {}, c)))),
    h('tbody', {}, rows),
  );
}

async function handoff(node, status) {
  if (!confirm(`Hand the primary lease to ${node.id}? Writes pause for the moment it takes.`)) return;
  status.textContent = `Handing off to ${node.id}…`;
  try {
    const res = await post('handoff', { to: node.id });
    status.textContent = `${res.primary} is now the primary (the handoff took ${res.ms} ms).`;
  } catch (err) {
    status.textContent = `Handoff failed: ${err.message}`;
  }
}

function chart(title, field, unit) {
  const W = 480;
  const H = 120;
  const now = samples.length ? samples[samples.length - 1].at : Date.now();
  const max = Math.max(1, ...samples.map((s) => s[field]));
  const x = (at) => ((at - (now - WINDOW_MS)) / WINDOW_MS) * W;
  const y = (v) => H - (v / max) * (H - 10);
  const points = samples.map((s) => `${x(s.at).toFixed(1)},${y(s[field]).toFixed(1)}`).join(' ');
  const current = samples.length ? samples[samples.length - 1][field] : 0;
  return h(
    'figure.chart',
    {},
    h('figcaption', {}, `${title}: now ${Math.round(current)} ${unit}, peak ${Math.round(max)} ${unit}`),
    svg(
      'svg',
      { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': title },
      svg('rect', { x: 0, y: 0, width: W, height: H, class: 'plot' }),
      svg('polyline', { points, class: `line ${field}` }),
      svg('text', { x: 4, y: 12, class: 'axis' }, `${Math.round(max)} ${unit}`),
      svg('text', { x: 4, y: H - 4, class: 'axis' }, '5 min ago'),
    ),
  );
}

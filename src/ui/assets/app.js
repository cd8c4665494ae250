// The studio's page: sign-in, then one view per route (#/cluster, #/data/<db>/<table>, #/console/<db>, #/backups/<db>).
import { get, post, session, signIn, useSession, whenSignedOut } from './api.js';
import { backupsView } from './backups.js';
import { clusterView } from './cluster.js';
import { consoleView } from './console.js';
import { dataView } from './data.js';
import { replace } from './dom.js';

const $ = (id) => document.getElementById(id);
const view = $('view');
const form = $('sign-in');
let leave = () => {};

function showSignIn() {
  leave();
  leave = () => {};
  $('nav').hidden = true;
  $('sign-out').hidden = true;
  $('whoami').textContent = '';
  replace(view);
  form.hidden = false;
  form.elements.token.focus();
}

function route() {
  leave();
  const [name = 'cluster', ...args] = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent).filter(Boolean);
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.getAttribute('href') === `#/${name}`);
  const views = { cluster: clusterView, data: dataView, console: consoleView, backups: backupsView };
  replace(view);
  const stop = (views[name] ?? clusterView)(view, args);
  leave = typeof stop === 'function' ? stop : () => {};
}

function signedIn() {
  form.hidden = true;
  $('nav').hidden = false;
  $('sign-out').hidden = false;
  $('whoami').textContent = `this node: ${session.role}${session.readOnly ? ' · read-only' : ''}`;
}

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  const input = form.elements.token;
  $('sign-in-error').textContent = '';
  try {
    await signIn(input.value);
    input.value = '';
    signedIn();
    route();
  } catch (err) {
    input.value = '';
    $('sign-in-error').textContent = err.message;
  }
});

$('sign-out').addEventListener('click', async () => {
  await post('sign-out').catch(() => {});
  showSignIn();
});

whenSignedOut(showSignIn);
window.addEventListener('hashchange', () => {
  if (form.hidden) route();
});

// The view asks for its data while the session is asked for, one round trip sooner; without a
// session its requests are refused and the sign-in form replaces it.
const answer = get('session');
route();
try {
  useSession(await answer);
  signedIn();
} catch {
  showSignIn();
}

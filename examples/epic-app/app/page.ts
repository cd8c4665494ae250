/** What the notes page shows. */
export interface PageData {
  instance: string;
  primary: string | null;
  isPrimary: boolean;
  user: { username: string; roles: string[] } | undefined;
  notes: Array<{ id: string; title: string; content: string; owner: string; createdAt: Date }>;
  message?: string;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The one page of the app, rendered on the server. Delete buttons show on every note: the server decides from the roles' permissions. */
export function renderPage(d: PageData): string {
  const who = d.user
    ? `<form method="post" action="/logout" class="inline">Signed in as <b data-testid="user">${esc(d.user.username)}</b> (${esc(d.user.roles.join(', '))}) <button>Sign out</button></form>`
    : `<form method="post" action="/login" class="inline"><input name="username" placeholder="username" aria-label="username"> <input name="password" type="password" placeholder="password" aria-label="password"> <button>Sign in</button> <small>admin, alice or bob; password: &lt;name&gt;-password</small></form>`;
  const add = d.user
    ? `<form method="post" action="/notes" class="add"><input name="title" placeholder="Title" aria-label="title" required> <input name="content" placeholder="Note" aria-label="content" required> <button>Add note</button></form>`
    : '';
  const notes = d.notes.length
    ? d.notes
        .map(
          (n) => `<li data-testid="note"><b>${esc(n.title)}</b> ${esc(n.content)} <small>by ${esc(n.owner)}, ${n.createdAt.toISOString().slice(0, 19).replace('T', ' ')}</small>${
            d.user ? ` <form method="post" action="/notes/${esc(n.id)}/delete" class="inline"><button aria-label="delete ${esc(n.title)}">Delete</button></form>` : ''
          }</li>`,
        )
        .join('\n')
    : '<li>No notes yet.</li>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Notes · ${esc(d.instance)}</title>
<style>body{font:15px system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}header{background:#f3f4f6;padding:.6rem .8rem;border-radius:6px}
.inline{display:inline}.add{margin:1rem 0}.msg{background:#fee2e2;padding:.5rem .8rem;border-radius:6px}li{margin:.4rem 0}small{color:#6b7280}</style></head>
<body><header>Answered by <b data-testid="instance">${esc(d.instance)}</b> (${d.isPrimary ? 'primary' : 'replica'}) · primary: <b data-testid="primary">${esc(d.primary ?? 'unknown')}</b></header>
<h1>Notes</h1>
${d.message ? `<p class="msg" data-testid="message">${esc(d.message)}</p>` : ''}
<p>${who}</p>
${add}
<ul>${notes}</ul>
</body></html>`;
}

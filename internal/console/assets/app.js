// The console's shell: sign-in, the navigation built from the registered pages, and the hash
// router that renders the current page.
import { html, render, useEffect, useState } from './vendor/preact.js';
import { allPages, href, match } from './registry.js';
import { whoami } from './api.js';
import { forgetToken, storeToken, storedToken } from './session.js';
import { ErrorBox, Field, useAction } from './ui.js';
import './pages/index.js';

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, q = ''] = raw.split('?');
  return { path, query: Object.fromEntries(new URLSearchParams(q)) };
}

function navigate(to) {
  location.hash = to.startsWith('#') ? to : '#' + to;
}

function SignIn({ onSignedIn, notice }) {
  const [token, setToken] = useState('');
  const { busy, error, run: submit } = useAction(async () => {
    const who = await whoami(token.trim());
    storeToken(token.trim());
    onSignedIn(who);
  });
  return html`<main class="signin" id="main">
    <h1>Switchboard console</h1>
    <form onSubmit=${submit}>
      <p>Sign in with the admin token (<code>data/admin-token</code>) or a solution's token. It is kept in this tab's session storage only, and forgotten when the tab closes.</p>
      ${notice ? html`<p class="notice" role="status">${notice}</p>` : null}
      <${Field} label="Token" type="password" value=${token} onInput=${setToken} autocomplete="off" required name="token" />
      <button type="submit" class="primary" disabled=${busy}>Sign in</button>
      <${ErrorBox} error=${error} />
    </form>
  </main>`;
}

function Nav({ session, route, solution }) {
  const pages = allPages().filter((p) => p.nav && (!p.admin || session.admin));
  const global = pages.filter((p) => p.scope === 'global');
  const sol = solution || (!session.admin ? session.solution : '');
  const inSolution = pages.filter((p) => p.scope === 'solution');
  const current = (p, params) => (route && route.page.id === p.id && (!params || params.solution === route.params.solution) ? 'page' : undefined);
  return html`<nav aria-label="Main">
    <ul>
      ${global.map((p) => html`<li><a href=${href(p.route)} aria-current=${current(p)}>${p.title}</a></li>`)}
    </ul>
    ${sol
      ? html`<h2 class="navhead">Solution <span class="sol">${sol}</span></h2>
          <ul>
            ${inSolution.map((p) => html`<li><a href=${href(p.route, { solution: sol })} aria-current=${current(p, { solution: sol })}>${p.title}</a></li>`)}
          </ul>`
      : null}
  </nav>`;
}

function App() {
  const [session, setSession] = useState(null); // { admin, solution }
  const [checking, setChecking] = useState(!!storedToken());
  const [notice, setNotice] = useState('');
  const [loc, setLoc] = useState(parseHash());

  useEffect(() => {
    const onHash = () => setLoc(parseHash());
    window.addEventListener('hashchange', onHash);
    const onUnauthorized = () => {
      forgetToken();
      setSession(null);
      setNotice('The token was refused (revoked, or its solution deleted): sign in again.');
    };
    window.addEventListener('console:unauthorized', onUnauthorized);
    const token = storedToken();
    if (token) {
      whoami(token).then(
        (who) => {
          setSession(who);
          setChecking(false);
        },
        () => {
          forgetToken();
          setChecking(false);
        },
      );
    }
    return () => {
      window.removeEventListener('hashchange', onHash);
      window.removeEventListener('console:unauthorized', onUnauthorized);
    };
  }, []);

  if (checking) return html`<p class="boot">Signing in…</p>`;
  if (!session) {
    return html`<${SignIn} notice=${notice} onSignedIn=${(who) => {
      setNotice('');
      setSession(who);
      if (!who.admin) navigate(href('/solutions/:solution', { solution: who.solution }));
      else if (loc.path === '/') navigate('#/solutions');
    }} />`;
  }

  const signOut = () => {
    forgetToken();
    setSession(null);
    navigate('#/');
  };
  let path = loc.path;
  if (path === '/') path = session.admin ? '/solutions' : '/solutions/' + encodeURIComponent(session.solution);
  const route = match(path);
  let body;
  if (!route) {
    body = html`<h1>Not found</h1><p>No page at <code>${loc.path}</code>.</p>`;
  } else if (route.page.admin && !session.admin) {
    body = html`<h1>${route.page.title}</h1><p class="error" role="alert">This page needs the admin token.</p>`;
  } else if (!session.admin && route.params.solution !== undefined && route.params.solution !== session.solution) {
    // Not even asked of the API: this token belongs to another solution.
    body = html`<h1>Not your solution</h1><p class="error" role="alert">This token belongs to solution <code>${session.solution}</code>; it cannot see <code>${route.params.solution}</code>.</p>`;
  } else {
    const ctx = { params: route.params, query: loc.query, session, navigate };
    body = html`<div key=${route.page.id + '/' + (route.params.solution || '')}>${route.page.render(ctx)}</div>`;
  }
  const sol = route && route.params.solution && (session.admin || route.params.solution === session.solution) ? route.params.solution : '';
  return html`<div class="layout">
    <header>
      <a class="brand" href="#/">Switchboard</a>
      <span class="who">${session.admin ? 'admin' : 'solution ' + session.solution}</span>
      <button type="button" onClick=${signOut}>Sign out</button>
    </header>
    <${Nav} session=${session} route=${route} solution=${sol} />
    <main id="main">${body}</main>
  </div>`;
}

const root = document.getElementById('app');
root.textContent = ''; // the loading line
render(html`<${App} />`, root);

// Keystore: the solution's keys browsed by pattern a page at a time (the API's count and
// cursor), a key's value (strings, lists and sets, always as text) with its type and TTL,
// setting a string with an optional TTL, deleting after a confirmation, and the store's info.
import { html, useState } from '../vendor/preact.js';
import { register, href } from '../registry.js';
import { api, solutionPath } from '../api.js';
import { confirmAction, ErrorBox, Field, Pager, fmtBytes, useAction, useAsync, usePages } from '../ui.js';

const route = '/solutions/:solution/keystore';
// pageSize is how many keys one page lists; each listed key's type and TTL is read too.
const pageSize = 25;
// readers bounds the key reads in flight at once for one page.
const readers = 4;

// fmtTTL says when a key expires: seconds left as "1h 2m 3s", or "no expiry".
export function fmtTTL(ttl) {
  if (ttl === undefined || ttl === null) return 'no expiry';
  let s = Math.max(0, Math.floor(ttl));
  const parts = [];
  for (const [unit, n] of [['d', 86400], ['h', 3600], ['m', 60]]) {
    if (s >= n) {
      parts.push(Math.floor(s / n) + unit);
      s %= n;
    }
  }
  if (s || parts.length === 0) parts.push(s + 's');
  return 'expires in ' + parts.join(' ');
}

// valueText shows a value as text: a string as it is, elements one a line, anything else as JSON.
function valueText(v) {
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && v.every((e) => typeof e === 'string')) return v.join('\n');
  return JSON.stringify(v, null, 2);
}

// readAll reads each key's view, a few at a time; a key gone in between is left out.
async function readAll(sol, keys, signal) {
  const out = new Array(keys.length);
  let next = 0;
  const worker = async () => {
    while (next < keys.length) {
      const i = next++;
      try {
        out[i] = await api.get(solutionPath(sol, 'keystore', 'keys') + '/' + encodeURIComponent(keys[i]), { signal });
      } catch (err) {
        if (err.status !== 404) throw err;
        out[i] = { key: keys[i], type: 'none' };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(readers, keys.length) }, worker));
  return out;
}

const keyPath = (sol, key) => solutionPath(sol, 'keystore', 'keys') + '/' + encodeURIComponent(key);

function Info({ sol, tick }) {
  const info = useAsync((signal) => api.get(solutionPath(sol, 'keystore', 'info'), { signal }), [sol, tick]);
  if (info.error) return html`<${ErrorBox} error=${info.error} />`;
  const i = info.data;
  if (!i) return null;
  return html`<p class="muted keystore-info">
    ${i.count} of ${i.quota?.keys ?? '?'} keys, ${fmtBytes(i.size || 0)} in all; values up to ${fmtBytes(i.quota?.value_bytes || 0)}.
  </p>`;
}

// SetForm sets a key to a string, with an optional TTL in seconds.
function SetForm({ sol, initial, onSaved }) {
  const [key, setKey] = useState(initial?.key || '');
  const [value, setValue] = useState(initial && typeof initial.value === 'string' ? initial.value : '');
  const [ttl, setTTL] = useState('');
  const { busy, error, run, setError } = useAction(async () => {
    const body = { value };
    if (ttl.trim() !== '') {
      const n = Number(ttl);
      if (!Number.isInteger(n) || n < 1) {
        setError(Object.assign(new Error(`TTL: want a whole number of seconds, at least 1, got "${ttl}"`), { field: 'ttl' }));
        return;
      }
      body.ttl = n;
    }
    const saved = await api.put(keyPath(sol, key), body);
    setTTL('');
    onSaved(saved);
  });
  return html`<form class="panel" onSubmit=${run} aria-labelledby="set-title">
    <h2 id="set-title">${initial ? 'Set ' + initial.key : 'Set a key'}</h2>
    <p class="muted">Stores a string, as <code>Keystore.set</code> does: whatever the key held is replaced, and its expiry cleared unless a TTL is given.</p>
    ${initial ? null : html`<${Field} label="Key" value=${key} onInput=${setKey} name="set-key" required />`}
    <${Field} label="Value" type="textarea" value=${value} onInput=${setValue} name="set-value" />
    <${Field} label="TTL (seconds, empty for none)" type="number" min="1" step="1" value=${ttl} onInput=${setTTL} name="set-ttl" />
    <button type="submit" class="primary" disabled=${busy}>Save value</button>
    <${ErrorBox} error=${error} />
  </form>`;
}

function KeyView({ sol, keyName, onChanged, onGone }) {
  const v = useAsync((signal) => api.get(keyPath(sol, keyName), { signal }), [sol, keyName]);
  const [error, setError] = useState(null);
  const [notice, setNotice] = useState('');
  const remove = async () => {
    if (!(await confirmAction({ title: `Delete key ${keyName}?`, message: `The key and its value are deleted from the Keystore of ${sol}.`, confirmLabel: 'Delete key' }))) return;
    try {
      await api.del(keyPath(sol, keyName));
      onGone();
    } catch (err) {
      setError(err);
    }
  };
  const k = v.data;
  return html`<section class="panel key-view" aria-labelledby="key-title">
    <h2 id="key-title">Key <code>${keyName}</code></h2>
    <${ErrorBox} error=${v.error || error} />
    ${notice ? html`<p class="ok" role="status">${notice}</p>` : null}
    ${k
      ? html`<dl class="kv">
            <dt>Type</dt><dd class="key-type">${k.type}</dd>
            <dt>Expiry</dt><dd class="key-ttl">${fmtTTL(k.ttl)}</dd>
            ${Array.isArray(k.value) ? html`<dt>Elements</dt><dd>${k.value.length}</dd>` : null}
          </dl>
          <pre class="key-value">${valueText(k.value)}</pre>
          <${SetForm}
            key=${keyName + '/' + JSON.stringify(k.value)}
            sol=${sol}
            initial=${k}
            onSaved=${(saved) => {
              setNotice(saved.type === 'none' ? 'Saved; the key has expired already.' : `Saved (${fmtTTL(saved.ttl)}).`);
              v.reload();
              onChanged();
            }}
          />
          <button type="button" class="danger" onClick=${remove}>Delete key</button>`
      : v.loading
        ? html`<p>Loading…</p>`
        : null}
  </section>`;
}

function KeystorePage({ params, query, navigate }) {
  const sol = params.solution;
  const [match, setMatch] = useState(query.match || '');
  const [applied, setApplied] = useState(query.match || '');
  const pages = usePages('');
  const cursor = pages.cursor;
  const [tick, setTick] = useState(0);
  const selected = query.key;
  const page = useAsync(
    async (signal) => {
      const q = new URLSearchParams({ count: String(pageSize) });
      if (applied) q.set('match', applied);
      if (cursor) q.set('cursor', cursor);
      const res = await api.get(solutionPath(sol, 'keystore', 'keys') + '?' + q, { signal });
      return { cursor: res.cursor, items: await readAll(sol, res.keys, signal) };
    },
    [sol, applied, cursor, tick],
  );
  const link = (key) => href(route, { solution: sol }, applied ? { match: applied, key } : { key });
  const search = (e) => {
    e.preventDefault();
    pages.reset();
    setApplied(match.trim());
  };
  const reload = () => setTick((t) => t + 1);
  return html`<section>
    <h1>Keystore</h1>
    <${Info} sol=${sol} tick=${tick} />
    <form class="row" onSubmit=${search} role="search" aria-label="Keys">
      <${Field} label="Pattern (Redis glob: *, ?, [a-z])" value=${match} onInput=${setMatch} name="match" placeholder="user:*" />
      <button type="submit">Find keys</button>
    </form>
    <${ErrorBox} error=${page.error} />
    ${page.data
      ? html`<table class="keys">
            <thead><tr><th scope="col">Key</th><th scope="col">Type</th><th scope="col">Expiry</th></tr></thead>
            <tbody>
              ${page.data.items.length === 0 ? html`<tr><td colspan="3" class="muted">No keys${applied ? ' match ' + applied : ''}.</td></tr>` : null}
              ${page.data.items.map(
                (k) => html`<tr>
                  <td><a href=${link(k.key)} aria-current=${selected === k.key ? 'true' : undefined}>${k.key}</a></td>
                  <td>${k.type === 'none' ? 'gone' : k.type}</td>
                  <td>${k.type === 'none' ? '' : fmtTTL(k.ttl)}</td>
                </tr>`,
              )}
            </tbody>
          </table>
          <${Pager} pages=${pages} nextCursor=${page.data.cursor || ''} />
          <div class="toolbar"><button type="button" onClick=${reload}>Reload</button></div>`
      : page.loading
        ? html`<p>Loading…</p>`
        : null}
    ${selected
      ? html`<${KeyView}
          key=${selected}
          sol=${sol}
          keyName=${selected}
          onChanged=${reload}
          onGone=${() => {
            reload();
            navigate(href(route, { solution: sol }, applied ? { match: applied } : undefined));
          }}
        />`
      : html`<${SetForm}
          sol=${sol}
          onSaved=${(saved) => {
            reload();
            navigate(link(saved.key));
          }}
        />`}
  </section>`;
}

register({ id: 'keystore', title: 'Keystore', route, order: 50, render: (ctx) => html`<${KeystorePage} ...${ctx} />` });

// Logs: the solution's log followed live, filtered by level (by the server) and by text (here),
// and a jump from an error id (what a failed endpoint's caller saw) to its entry.
import { html, useEffect, useRef, useState } from '../vendor/preact.js';
import { register } from '../registry.js';
import { api, solutionPath } from '../api.js';
import { tail } from '../live.js';
import { ErrorBox, Field, Select, fmtTime, useAction } from '../ui.js';

const route = '/solutions/:solution/logs';
// keep bounds what a long follow holds in the tab.
const keep = 2000;
// searchPages bounds how far back a jump to an error id reads (the API scans a bounded part of
// the log a page, and says where to go on).
const searchPages = 20;

const matches = (e, text) =>
  !text || [e.message, e.source, e.request_id, e.error_id, e.file, e.fields && JSON.stringify(e.fields)].some((v) => v && String(v).toLowerCase().includes(text));

function EntryDetail({ e }) {
  return html`<section class="panel entry-detail" aria-labelledby="entry-title">
    <h2 id="entry-title">Entry ${e.seq}</h2>
    <dl class="kv">
      <dt>Time</dt><dd>${fmtTime(e.time)}</dd>
      <dt>Level</dt><dd>${e.level}</dd>
      <dt>Source</dt><dd>${e.source}</dd>
      <dt>Message</dt><dd class="detail-message">${e.message}</dd>
      ${e.file || e.line ? html`<dt>Where</dt><dd>${e.file || ''}${e.line ? ':' + e.line : ''}</dd>` : null}
      ${e.request_id ? html`<dt>Request id</dt><dd><code>${e.request_id}</code></dd>` : null}
      ${e.error_id ? html`<dt>Error id</dt><dd><code>${e.error_id}</code></dd>` : null}
    </dl>
    ${e.fields ? html`<h3>Fields</h3><pre>${JSON.stringify(e.fields, null, 2)}</pre>` : null}
    ${e.trace ? html`<h3>Stack trace</h3><pre>${e.trace}</pre>` : null}
  </section>`;
}

function LogsPage({ params, query }) {
  const sol = params.solution;
  const [level, setLevel] = useState(query.level || '');
  const [since, setSince] = useState('1h');
  const [text, setText] = useState('');
  const [entries, setEntries] = useState([]);
  const [state, setState] = useState({ state: 'connecting', error: null });
  const [selected, setSelected] = useState(null);
  const [errorId, setErrorId] = useState(query.error || '');
  const box = useRef(null);
  const stick = useRef(true);

  useEffect(() => {
    setEntries([]);
    const q = new URLSearchParams({ follow: '1' });
    if (level) q.set('level', level);
    if (since) q.set('since', since);
    let pending = [];
    let timer = 0;
    // Entries arriving together are added together: one render for a burst.
    const flush = () => {
      timer = 0;
      const add = pending;
      pending = [];
      setEntries((old) => old.concat(add).slice(-keep));
    };
    const stop = tail(solutionPath(sol, 'logs') + '?' + q, {
      onEvent: (e) => {
        pending.push(e);
        if (!timer) timer = setTimeout(flush, 50);
      },
      onState: (s, error) => setState({ state: s, error: error || null }),
    });
    return () => {
      stop();
      clearTimeout(timer);
    };
  }, [sol, level, since]);

  useEffect(() => {
    const el = box.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [entries]);

  const jump = useAction(async () => {
    const id = errorId.trim();
    if (!id) return;
    setSelected(null);
    let found = entries.find((e) => e.error_id === id);
    let cursor = '';
    // The API finds it (error_id), a bounded scan a page; a long log may take a few pages.
    for (let i = 0; !found && i < searchPages; i++) {
      const q = new URLSearchParams({ error_id: id, limit: '1' });
      if (cursor) q.set('cursor', cursor);
      const page = await api.get(solutionPath(sol, 'logs') + '?' + q);
      found = page.items.find((e) => e.error_id === id);
      if (!page.next_cursor) break;
      cursor = page.next_cursor;
    }
    if (!found) throw new Error(`no entry with error id ${id} in the solution's log (it may be older than the log keeps)`);
    setSelected(found);
  });
  useEffect(() => {
    if (query.error) jump.run();
  }, [query.error]);

  const needle = text.trim().toLowerCase();
  const shown = entries.filter((e) => matches(e, needle));
  return html`<section>
    <h1>Logs</h1>
    <div class="row">
      <${Select} label="Level" value=${level} onInput=${setLevel} options=${[['', 'all'], ['debug', 'debug and up'], ['info', 'info and up'], ['warn', 'warn and up'], ['error', 'error']]} />
      <${Select} label="From" value=${since} onInput=${setSince} options=${[['15m', 'last 15 minutes'], ['1h', 'last hour'], ['24h', 'last day'], ['', 'everything kept']]} />
      <${Field} label="Text filter" value=${text} onInput=${setText} name="text" placeholder="message, source, request or error id" />
    </div>
    <form class="row" onSubmit=${jump.run}>
      <${Field} label="Error id" value=${errorId} onInput=${setErrorId} name="error-id" placeholder="what a failed request answered" />
      <button type="submit" disabled=${jump.busy}>Go to entry</button>
    </form>
    <${ErrorBox} error=${jump.error || state.error} />
    <p class=${'state ' + state.state} role="status">
      ${(state.state === 'open' ? 'Following live' : state.state === 'closed' ? 'Stopped' : state.state === 'reconnecting' ? 'Reconnecting…' : 'Connecting…') + ' · '}${shown.length} of ${entries.length} entries shown${entries.length >= keep ? ` (the latest ${keep})` : ''}
    </p>
    ${selected ? html`<${EntryDetail} e=${selected} />` : null}
    <div class="logs" ref=${box} tabindex="0" aria-label="Log entries" onScroll=${(e) => {
      const el = e.currentTarget;
      stick.current = el.scrollTop + el.clientHeight >= el.scrollHeight - 8;
    }}>
      ${shown.map(
        (e) => html`<div class=${'entry' + (selected && selected.seq === e.seq ? ' selected' : '')} key=${e.seq}>
          <span>${fmtTime(e.time)}</span>
          <span class=${'lvl-' + e.level}>${e.level}</span>
          <span>${e.source}</span>
          <span class="msg">${e.message}${e.error_id
            ? html` <button type="button" class="link" onClick=${() => setSelected(e)}>error ${e.error_id}</button>`
            : null}${e.request_id ? html` <span class="muted">request ${e.request_id}</span>` : null}</span>
        </div>`,
      )}
      ${shown.length === 0 ? html`<div class="entry"><span class="muted">No entries yet.</span></div>` : null}
    </div>
  </section>`;
}

register({ id: 'logs', title: 'Logs', route, order: 60, render: (ctx) => html`<${LogsPage} ...${ctx} />` });

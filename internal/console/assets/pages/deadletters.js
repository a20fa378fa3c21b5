// Dead letters: the events a handler gave up on, listed with filters; one inspected (its
// event, handler, attempts and last error, as text), replayed or purged; many replayed or
// purged by a filter, after a confirmation.
import { html, useState } from '../vendor/preact.js';
import { register, href } from '../registry.js';
import { api, solutionPath } from '../api.js';
import { confirmAction, ErrorBox, Field, fmtTime, useAction, useAsync } from '../ui.js';

const route = '/solutions/:solution/deadletters';
// pageSize is how many dead letters one page of the list shows.
const pageSize = 50;

// selection is the filter as the API's replay body and purge query take it; empty fields are
// left out, so that nothing given selects nothing (and the API refuses it).
function selection(f) {
  const sel = {};
  for (const k of ['handler', 'topic', 'since']) if (f[k].trim()) sel[k] = f[k].trim();
  return sel;
}

function describe(sel) {
  const parts = Object.entries(sel).map(([k, v]) => `${k} ${v}`);
  return parts.length ? 'the dead letters with ' + parts.join(', ') : 'every dead letter of the solution';
}

function Detail({ sol, seq, onChanged, navigate }) {
  const dl = useAsync((signal) => api.get(solutionPath(sol, 'deadletters', seq), { signal }), [sol, seq]);
  const [done, setDone] = useState('');
  const back = () => navigate(href(route, { solution: sol }));
  const replay = useAction(async () => {
    const r = await api.post(solutionPath(sol, 'deadletters/replay'), { seq: Number(seq) });
    setDone(`Replayed ${r.replayed} dead letter: it goes back to handler ${dl.data.handler} as a fresh delivery.`);
    onChanged();
  });
  const purge = useAction(async () => {
    if (!(await confirmAction({ title: `Purge dead letter ${seq}?`, message: `Dead letter ${seq} is removed without running it. This cannot be undone.`, confirmLabel: 'Purge' }))) return;
    await api.del(solutionPath(sol, 'deadletters', seq));
    onChanged();
    back();
  });
  if (dl.error) return html`<${ErrorBox} error=${dl.error} />`;
  if (!dl.data) return html`<p>Loading…</p>`;
  const d = dl.data;
  let event = d.event;
  try {
    event = JSON.stringify(d.event, null, 2);
  } catch {
    event = String(d.event);
  }
  return html`<section class="panel dl-detail" aria-labelledby="dl-title">
    <h2 id="dl-title">Dead letter ${d.seq}</h2>
    <dl class="kv">
      <dt>Handler</dt><dd>${d.handler}</dd>
      <dt>Topic</dt><dd>${d.topic || ''}</dd>
      <dt>Event id</dt><dd><code>${d.event_id || ''}</code></dd>
      <dt>Attempts</dt><dd>${d.attempts}${d.replays ? ` (replayed ${d.replays} times before)` : ''}</dd>
      <dt>Failed at</dt><dd>${fmtTime(d.failed_at)}</dd>
      <dt>Kind</dt><dd>${d.kind || ''}</dd>
      <dt>Last error</dt><dd class="detail-message">${d.error}</dd>
    </dl>
    <h3>Event</h3>
    <pre class="dl-event">${event}</pre>
    <div class="toolbar">
      <button type="button" class="primary" onClick=${replay.run} disabled=${replay.busy || !!done}>Replay</button>
      <button type="button" class="danger" onClick=${purge.run} disabled=${purge.busy}>Purge</button>
      <button type="button" onClick=${back}>Close</button>
      ${done ? html`<span class="ok" role="status">${done}</span>` : null}
    </div>
    <${ErrorBox} error=${replay.error || purge.error} />
  </section>`;
}

function DeadLettersPage({ params, query, navigate }) {
  const sol = params.solution;
  const [form, setForm] = useState({ handler: '', topic: '', since: '' });
  const [filter, setFilter] = useState({ handler: '', topic: '', since: '' });
  const [cursors, setCursors] = useState(['']); // the cursor of each page seen, for Back
  const [notice, setNotice] = useState('');
  const cursor = cursors[cursors.length - 1];
  const sel = selection(filter);
  const list = useAsync((signal) => {
    const q = new URLSearchParams({ ...sel, limit: String(pageSize) });
    if (cursor) q.set('cursor', cursor);
    return api.get(solutionPath(sol, 'deadletters') + '?' + q, { signal });
  }, [sol, JSON.stringify(sel), cursor]);
  const set = (k) => (v) => setForm((f) => ({ ...f, [k]: v }));
  const apply = (e) => {
    e.preventDefault();
    setFilter(form);
    setCursors(['']);
  };
  const bulkAct = async (purge) => {
    const s = selection(filter);
    const all = Object.keys(s).length === 0;
    const what = describe(s);
    const ok = await confirmAction(
      purge
        ? { title: 'Purge dead letters?', message: `${what} are removed without running them. This cannot be undone.`, confirmLabel: 'Purge' }
        : { title: 'Replay dead letters?', message: `${what} go back to their handlers as fresh deliveries, each with its attempts again.`, confirmLabel: 'Replay' },
    );
    if (!ok) return;
    if (purge) {
      const q = new URLSearchParams(all ? { all: 'true' } : s);
      const r = await api.del(solutionPath(sol, 'deadletters') + '?' + q);
      setNotice(`Purged ${r.purged} dead letter${r.purged === 1 ? '' : 's'}.`);
    } else {
      const r = await api.post(solutionPath(sol, 'deadletters/replay'), all ? { all: true } : s);
      setNotice(`Replayed ${r.replayed} dead letter${r.replayed === 1 ? '' : 's'}.`);
    }
    setCursors(['']);
    list.reload();
  };
  const replayMany = useAction(() => bulkAct(false));
  const purgeMany = useAction(() => bulkAct(true));
  const items = list.data?.items || [];
  return html`<section>
    <h1>Dead letters</h1>
    <p class="muted">Events a handler failed on every attempt, kept 30 days. Replaying sends one back to its handler as a fresh delivery.</p>
    <form class="row" onSubmit=${apply} aria-label="Filter">
      <${Field} label="Handler" value=${form.handler} onInput=${set('handler')} name="dl-handler" />
      <${Field} label="Topic" value=${form.topic} onInput=${set('topic')} name="dl-topic" />
      <${Field} label="Since" value=${form.since} onInput=${set('since')} name="dl-since" placeholder="1h, or a time" />
      <button type="submit">Filter</button>
    </form>
    <div class="toolbar">
      <button type="button" onClick=${replayMany.run} disabled=${replayMany.busy}>${Object.keys(sel).length ? 'Replay those matching' : 'Replay all'}</button>
      <button type="button" class="danger" onClick=${purgeMany.run} disabled=${purgeMany.busy}>${Object.keys(sel).length ? 'Purge those matching' : 'Purge all'}</button>
      ${notice ? html`<span class="ok" role="status">${notice}</span>` : null}
    </div>
    <${ErrorBox} error=${list.error || replayMany.error || purgeMany.error} />
    ${query.seq ? html`<${Detail} key=${query.seq} sol=${sol} seq=${query.seq} navigate=${navigate} onChanged=${list.reload} />` : null}
    <table class="deadletters">
      <caption class="visually-hidden">Dead letters, oldest first</caption>
      <thead><tr><th scope="col">Seq</th><th scope="col">Failed at</th><th scope="col">Handler</th><th scope="col">Topic</th><th scope="col">Attempts</th><th scope="col">Error</th></tr></thead>
      <tbody>
        ${items.map(
          (d) => html`<tr key=${d.seq}>
            <td><a href=${href(route, { solution: sol }, { seq: String(d.seq) })}>${d.seq}</a></td>
            <td>${fmtTime(d.failed_at)}</td>
            <td>${d.handler}</td>
            <td>${d.topic || ''}</td>
            <td>${d.attempts}</td>
            <td class="msg">${d.error.length > 200 ? d.error.slice(0, 200) + '…' : d.error}</td>
          </tr>`,
        )}
        ${items.length === 0 && !list.loading ? html`<tr><td colspan="6" class="muted">No dead letters${Object.keys(sel).length ? ' match' : ''}.</td></tr>` : null}
      </tbody>
    </table>
    <div class="toolbar">
      ${cursors.length > 1 ? html`<button type="button" onClick=${() => setCursors((c) => c.slice(0, -1))}>Previous page</button>` : null}
      ${list.data?.next_cursor ? html`<button type="button" onClick=${() => setCursors((c) => c.concat([list.data.next_cursor]))}>Next page</button>` : null}
    </div>
  </section>`;
}

register({ id: 'deadletters', title: 'Dead letters', route, order: 34, render: (ctx) => html`<${DeadLettersPage} ...${ctx} />` });

// Events: publish one to the solution's handlers, then follow its delivery report until every
// handler has an outcome; and a live tail of the events the solution's handlers receive.
import { html, useEffect, useRef, useState } from '../vendor/preact.js';
import { register, href } from '../registry.js';
import { api, solutionPath } from '../api.js';
import { tail } from '../live.js';
import { ErrorBox, Field, fmtTime, useAction } from '../ui.js';

const route = '/solutions/:solution/events';
// settled are the states after which a handler's delivery does not change by itself.
const settled = new Set(['succeeded', 'dead-lettered', 'dropped', 'expired']);
// reportEvery is how often a report is read again while a handler has no outcome; reportFor
// bounds how long (a handler's retries may wait minutes between attempts).
const reportEvery = 1000;
const reportFor = 10 * 60 * 1000;
// keep bounds what a long tail holds in the tab.
const keep = 500;

// parseData reads the data field: empty is no data, otherwise it must be JSON.
export function parseData(text) {
  if (text.trim() === '') return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, error: 'data is not JSON: ' + err.message };
  }
}

function Report({ sol, id }) {
  const [report, setReport] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    const ctl = new AbortController();
    const started = Date.now();
    let timer = 0;
    const read = async () => {
      try {
        const r = await api.get(solutionPath(sol, 'events', id), { signal: ctl.signal });
        setReport(r);
        setError(null);
        if (r.handlers.length > 0 && r.handlers.every((h) => settled.has(h.state))) return;
      } catch (err) {
        if (ctl.signal.aborted) return;
        setError(err);
        // A report is written behind the runs: a 404 right after publishing is not yet one.
        if (err.status !== 404 && err.status !== 0) return;
      }
      if (Date.now() - started < reportFor) timer = setTimeout(read, reportEvery);
    };
    read();
    return () => {
      ctl.abort();
      clearTimeout(timer);
    };
  }, [sol, id]);
  const done = report && report.handlers.length > 0 && report.handlers.every((h) => settled.has(h.state));
  return html`<section class="panel" aria-labelledby="report-title">
    <h2 id="report-title">Delivery report of <code>${id}</code></h2>
    <p class="state" role="status">${done ? 'Every handler has an outcome.' : 'Waiting for every handler to have an outcome…'}</p>
    ${error && !report ? html`<${ErrorBox} error=${error} />` : null}
    ${report
      ? html`<table class="report">
          <caption class="visually-hidden">Each handler's delivery of the event</caption>
          <thead><tr><th scope="col">Handler</th><th scope="col">Topic</th><th scope="col">State</th><th scope="col">Attempts</th><th scope="col">Last run</th><th scope="col">Last error</th></tr></thead>
          <tbody>
            ${report.handlers.map(
              (h) => html`<tr key=${h.handler + ' ' + h.topic} class=${'delivery state-' + h.state}>
                <td>${h.handler}</td>
                <td>${h.topic}</td>
                <td class="delivery-state">${h.state}${h.next_attempt_at ? html` <span class="muted">next ${fmtTime(h.next_attempt_at)}</span>` : null}</td>
                <td>${h.attempts}${h.replays ? html` <span class="muted">(${h.replays} replays)</span>` : null}</td>
                <td>${h.attempts ? h.duration : ''}</td>
                <td class="msg">${h.last_error || ''}${h.error_id
                  ? html` <a href=${href('/solutions/:solution/logs', { solution: sol }, { error: h.error_id })}>error ${h.error_id}</a>`
                  : null}</td>
              </tr>`,
            )}
          </tbody>
        </table>
        ${report.handlers.some((h) => h.state === 'dead-lettered')
          ? html`<p><a href=${href('/solutions/:solution/deadletters', { solution: sol })}>See the dead letters</a></p>`
          : null}`
      : null}
  </section>`;
}

function Publish({ sol, onPublished }) {
  const [topic, setTopic] = useState('');
  const [data, setData] = useState('{}');
  const [id, setId] = useState('');
  const parsed = parseData(data);
  const publish = useAction(async () => {
    if (!parsed.ok) throw Object.assign(new Error(parsed.error), { field: 'data' });
    const body = { topic: topic.trim() };
    if (parsed.value !== undefined) body.data = parsed.value;
    if (id.trim()) body.id = id.trim();
    const r = await api.post(solutionPath(sol, 'events'), body);
    onPublished(r.id);
  });
  return html`<form class="panel" onSubmit=${publish.run} aria-labelledby="publish-title">
    <h2 id="publish-title">Publish an event</h2>
    <div class="row">
      <${Field} label="Topic" value=${topic} onInput=${setTopic} name="topic" required placeholder="orders.created" />
      <${Field} label="Event id (optional)" value=${id} onInput=${setId} name="event-id" hint="sending an id again within the dedup window stores nothing new" />
    </div>
    <${Field} label="Data (JSON)" type="textarea" value=${data} onInput=${setData} name="data" spellcheck="false" aria-invalid=${parsed.ok ? undefined : 'true'} />
    ${parsed.ok ? null : html`<p class="error" role="alert">${parsed.error}</p>`}
    <div class="toolbar">
      <button type="submit" class="primary" disabled=${publish.busy || !parsed.ok || topic.trim() === ''}>Publish</button>
    </div>
    <${ErrorBox} error=${publish.error} />
  </form>`;
}

function Tail({ sol }) {
  const [on, setOn] = useState(false);
  const [pattern, setPattern] = useState('');
  const [applied, setApplied] = useState('');
  const [items, setItems] = useState([]);
  const [state, setState] = useState({ state: 'closed', error: null });
  const box = useRef(null);
  useEffect(() => {
    if (!on) return undefined;
    setItems([]);
    const q = new URLSearchParams({ follow: '1' });
    if (applied) q.set('topic', applied);
    setState({ state: 'connecting', error: null });
    return tail(solutionPath(sol, 'events') + '?' + q, {
      onEvent: (e) => setItems((old) => old.concat([e]).slice(-keep)),
      onState: (s, error) => setState({ state: s, error: error || null }),
    });
  }, [sol, on, applied]);
  useEffect(() => {
    if (box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [items]);
  const label = { open: 'Following live', connecting: 'Connecting…', reconnecting: 'Reconnecting…', closed: 'Stopped' }[state.state] || state.state;
  return html`<section class="panel" aria-labelledby="tail-title">
    <h2 id="tail-title">Live events</h2>
    <form class="row" onSubmit=${(e) => {
      e.preventDefault();
      setApplied(pattern.trim());
      setOn(true);
    }}>
      <${Field} label="Topic pattern" value=${pattern} onInput=${setPattern} name="tail-topic" placeholder="orders.* (empty: every topic)" />
      <button type="submit">${on ? 'Apply' : 'Follow'}</button>
      ${on ? html`<button type="button" onClick=${() => setOn(false)}>Stop</button>` : null}
    </form>
    <${ErrorBox} error=${state.error} />
    <p class=${'state ' + state.state} role="status">${label} · ${items.length} events</p>
    ${on || items.length
      ? html`<div class="logs events-tail" ref=${box} tabindex="0" aria-label="Events received">
          ${items.map(
            (e, i) => html`<div class="entry" key=${e.id + ' ' + i}>
              <span>${fmtTime(e.time)}</span>
              <span>${e.topic}</span>
              <span><code>${e.id}</code></span>
              <span class="msg">${e.data === undefined ? '' : JSON.stringify(e.data)}</span>
            </div>`,
          )}
          ${items.length === 0 ? html`<div class="entry"><span class="muted">No events yet.</span></div>` : null}
        </div>`
      : null}
  </section>`;
}

function EventsPage({ params, query, navigate }) {
  const sol = params.solution;
  return html`<section>
    <h1>Events</h1>
    <p class="muted">An event published here is stored, and each handler subscribed to its topic runs it on its own, with retries.</p>
    <${Publish} sol=${sol} onPublished=${(id) => navigate(href(route, { solution: sol }, { id }))} />
    ${query.id ? html`<${Report} key=${query.id} sol=${sol} id=${query.id} />` : null}
    <${Tail} sol=${sol} />
  </section>`;
}

register({ id: 'events', title: 'Events', route, order: 32, render: (ctx) => html`<${EventsPage} ...${ctx} />` });

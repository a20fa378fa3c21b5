// Handlers: the list, editing a handler's script, topics and delivery (retry policy, runs at
// once, order; checked as it is typed, its syntax errors marked at their line), deploying and
// deleting it.
import { html, useEffect, useState } from '../vendor/preact.js';
import { register, href } from '../registry.js';
import { api, solutionPath } from '../api.js';
import { ErrorBox, Field, useAsync } from '../ui.js';
import { ItemList, Workbench } from '../workbench.js';

const route = '/solutions/:solution/handlers';

const starter = `-- event: id, topic, source, time, data, headers, correlation_id
print("got " .. event.topic)
`;

const topicList = (text) => text.split(',').map((t) => t.trim()).filter(Boolean);

function HandlerEditor({ sol, name: existingName, onChanged, navigate, setNotice }) {
  const isNew = !existingName;
  const [name, setName] = useState(existingName || '');
  const [topics, setTopics] = useState('');
  const [script, setScript] = useState(isNew ? starter : '');
  const [loaded, setLoaded] = useState(isNew);
  // Delivery, as docs/events.md's "Retry policy": empty is the server's default.
  const [attempts, setAttempts] = useState('');
  const [minWait, setMinWait] = useState('');
  const [maxWait, setMaxWait] = useState('');
  const [retryOn, setRetryOn] = useState('');
  const [maxInFlight, setMaxInFlight] = useState('');
  const [orderBy, setOrderBy] = useState('');
  const existing = useAsync(
    (signal) => (isNew ? Promise.resolve(null) : api.get(solutionPath(sol, 'handlers', existingName), { signal })),
    [sol, existingName],
  );
  useEffect(() => {
    if (existing.data) {
      setScript(existing.data.script);
      setTopics((existing.data.topics || []).join(', '));
      const r = existing.data.retry || {};
      setAttempts(r.attempts ? String(r.attempts) : '');
      setMinWait(r.min_wait || '');
      setMaxWait(r.max_wait || '');
      setRetryOn((r.on || []).join(', '));
      setMaxInFlight(existing.data.max_in_flight ? String(existing.data.max_in_flight) : '');
      setOrderBy(existing.data.order_by || '');
      setLoaded(true);
    }
  }, [existing.data]);
  if (existing.error) return html`<${ErrorBox} error=${existing.error} />`;
  if (!loaded) return html`<p>Loading…</p>`;
  const fields = html`<div class="row">
      <${Field} label="Name" value=${name} onInput=${setName} name="name" hint="service_event subscribes to service.event when no topic is given" />
      <${Field} label="Topics (comma-separated)" value=${topics} onInput=${setTopics} name="topics" />
    </div>
    <fieldset>
      <legend>Delivery (empty: the server's defaults)</legend>
      <div class="row">
        <${Field} label="Attempts" type="number" min="1" max="100" value=${attempts} onInput=${setAttempts} name="retry_attempts" hint="runs in all before a dead letter; default 5" />
        <${Field} label="First retry after" value=${minWait} onInput=${setMinWait} name="retry_min_wait" hint="100ms, 30s, 2m; default 1s" />
        <${Field} label="Longest wait" value=${maxWait} onInput=${setMaxWait} name="retry_max_wait" hint="default 2m" />
      </div>
      <div class="row">
        <${Field} label="Retry on (comma-separated)" value=${retryOn} onInput=${setRetryOn} name="retry_on" hint="runtime, time, memory, steps, …; default every kind" />
        <${Field} label="Runs at once" type="number" min="0" max="1024" value=${maxInFlight} onInput=${setMaxInFlight} name="max_in_flight" hint="per instance; default 16" />
        <${Field} label="Order by" value=${orderBy} onInput=${setOrderBy} name="order_by" hint="topic, subject, correlation_id or data.<path>; default none" />
      </div>
    </fieldset>`;
  const body = { name, script };
  if (topicList(topics).length) body.topics = topicList(topics);
  const retry = {};
  // A number the API checks itself: what is not one is sent as typed, and refused naming it.
  if (attempts.trim()) retry.attempts = Number.isNaN(Number(attempts)) ? attempts : Number(attempts);
  if (minWait.trim()) retry.min_wait = minWait.trim();
  if (maxWait.trim()) retry.max_wait = maxWait.trim();
  if (topicList(retryOn).length) retry.on = topicList(retryOn);
  if (Object.keys(retry).length) body.retry = retry;
  if (maxInFlight.trim()) body.max_in_flight = Number.isNaN(Number(maxInFlight)) ? maxInFlight : Number(maxInFlight);
  if (orderBy.trim()) body.order_by = orderBy.trim();
  return html`<${Workbench}
    title=${isNew ? 'New handler' : `Handler ${existingName}`}
    fields=${fields}
    script=${script}
    setScript=${setScript}
    checkPath=${solutionPath(sol, 'check/handler')}
    deployPath=${solutionPath(sol, 'handlers')}
    body=${body}
    ready=${loaded && name.trim() !== ''}
    deleteWhat=${isNew ? '' : `handler ${existingName}`}
    onDelete=${isNew
      ? null
      : async () => {
          await api.del(solutionPath(sol, 'handlers', existingName));
          onChanged();
          navigate(href(route, { solution: sol }));
        }}
    onDeployed=${(saved) => {
      onChanged();
      setNotice(`Deployed handler ${saved.name}, version ${saved.version}.`);
      if (saved.name !== existingName) navigate(href(route, { solution: sol }, { name: saved.name }));
    }}
  />`;
}

function HandlersPage({ params, query, navigate }) {
  const sol = params.solution;
  const list = useAsync((signal) => api.get(solutionPath(sol, 'handlers'), { signal }), [sol]);
  const [notice, setNotice] = useState('');
  const chosen = query.new ? '' : query.name;
  const items = (list.data?.items || []).map((h) => ({
    label: html`${h.name} <span class="muted">${(h.topics || []).join(', ')}</span>`,
    href: href(route, { solution: sol }, { name: h.name }),
    current: chosen === h.name,
  }));
  return html`<section>
    <h1>Handlers</h1>
    <p class="muted">Scripts subscribed to topics: each runs for every event of its topics.</p>
    <${ErrorBox} error=${list.error} />
    ${notice ? html`<p class="ok" role="status">${notice}</p>` : null}
    <div class="split">
      <${ItemList} label="Handlers" items=${items} newHref=${href(route, { solution: sol }, { new: '1' })} newLabel="New handler" />
      <div>
        ${chosen !== undefined
          ? html`<${HandlerEditor} key=${chosen} sol=${sol} name=${chosen} onChanged=${list.reload} navigate=${navigate} setNotice=${setNotice} />`
          : html`<p class="muted">Choose a handler, or create a new one.</p>`}
      </div>
    </div>
  </section>`;
}

register({ id: 'handlers', title: 'Handlers', route, order: 30, render: (ctx) => html`<${HandlersPage} ...${ctx} />` });

// Handlers: the list, editing a handler's script and topics (checked as it is typed, its
// syntax errors marked at their line), deploying and deleting it.
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
  const existing = useAsync(
    (signal) => (isNew ? Promise.resolve(null) : api.get(solutionPath(sol, 'handlers', existingName), { signal })),
    [sol, existingName],
  );
  useEffect(() => {
    if (existing.data) {
      setScript(existing.data.script);
      setTopics((existing.data.topics || []).join(', '));
      setLoaded(true);
    }
  }, [existing.data]);
  if (existing.error) return html`<${ErrorBox} error=${existing.error} />`;
  if (!loaded) return html`<p>Loading…</p>`;
  const fields = html`<div class="row">
    <${Field} label="Name" value=${name} onInput=${setName} name="name" hint="service_event subscribes to service.event when no topic is given" />
    <${Field} label="Topics (comma-separated)" value=${topics} onInput=${setTopics} name="topics" />
  </div>`;
  const body = { name, script };
  if (topicList(topics).length) body.topics = topicList(topics);
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

// Connectors: the solution's connectors with their state, lag and last error; pausing and
// resuming one; creating one from a type's schema; a connector's detail; deleting one after a
// confirmation. Secrets in a config come back from the API as "(set)", never their value.
import { html, useEffect, useState } from '../vendor/preact.js';
import { register, href } from '../registry.js';
import { api, solutionPath } from '../api.js';
import { confirmAction, ErrorBox, Field, Select, fmtTime, useAction, useAsync } from '../ui.js';

const route = '/solutions/:solution/connectors';

const refreshMs = 5000;

const num = (v) => (v === undefined || v === null ? '—' : String(v));

function State({ c }) {
  const st = c.status || {};
  const text = c.paused ? 'paused' : st.state || 'unknown';
  return html`<span class=${'conn-state ' + (text === 'running' ? 'ok' : '')}>${text}${st.held ? ' (held)' : ''}</span>`;
}

// PauseButton pauses a running connector or resumes a paused one.
function PauseButton({ sol, c, onDone, setError }) {
  const [busy, setBusy] = useState(false);
  const act = async () => {
    setBusy(true);
    setError(null);
    try {
      await api.post(solutionPath(sol, 'connectors', c.name, c.paused ? 'resume' : 'pause'));
      onDone();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const label = c.paused ? 'Resume' : 'Pause';
  return html`<button type="button" onClick=${act} disabled=${busy} aria-label=${label + ' ' + c.name}>${label}</button>`;
}

function Detail({ sol, name, tick, onChanged, navigate }) {
  const c = useAsync((signal) => api.get(solutionPath(sol, 'connectors', name), { signal }), [sol, name, tick]);
  const [error, setError] = useState(null);
  const remove = async () => {
    const yes = await confirmAction({
      title: `Delete connector ${name}?`,
      message: `It stops, and its configuration is deleted. Events it brought in stay.`,
      confirmLabel: 'Delete connector',
    });
    if (!yes) return;
    try {
      await api.del(solutionPath(sol, 'connectors', name));
      onChanged();
      navigate(href(route, { solution: sol }));
    } catch (err) {
      setError(err);
    }
  };
  const d = c.data;
  const st = d?.status || {};
  return html`<section class="panel connector-detail" aria-labelledby="conn-title">
    <h2 id="conn-title">Connector ${name}</h2>
    <${ErrorBox} error=${c.error || error} />
    ${d
      ? html`<dl class="kv">
            <dt>Type</dt><dd>${d.type}</dd>
            <dt>Direction</dt><dd>${d.direction}</dd>
            ${d.topic ? html`<dt>Topic</dt><dd><code>${d.topic}</code></dd>` : null}
            <dt>State</dt><dd><${State} c=${d} />${st.since ? ` since ${fmtTime(st.since)}` : ''}</dd>
            ${st.instance ? html`<dt>Runs on</dt><dd>${st.instance}</dd>` : null}
            <dt>Lag</dt><dd class="conn-lag">${num(st.lag)}</dd>
            <dt>Pending events</dt><dd>${num(st.pending)}${st.max_pending ? ` of ${st.max_pending}` : ''}</dd>
            ${st.held_reason ? html`<dt>Held</dt><dd>${st.held_reason}</dd>` : null}
            <dt>Received</dt><dd>${st.received ?? 0}</dd>
            <dt>Published</dt><dd>${st.published ?? 0}</dd>
            <dt>Rejected</dt><dd>${st.rejected ?? 0}</dd>
            ${st.dropped ? html`<dt>Dropped</dt><dd>${st.dropped}</dd>` : null}
            ${st.failed ? html`<dt>Failed publishes</dt><dd>${st.failed}</dd>` : null}
            <dt>Last error</dt><dd class="conn-error">${st.last_error || 'none'}</dd>
            <dt>Version</dt><dd>${d.version}, updated ${fmtTime(d.updated_at)}</dd>
          </dl>
          <h3>Configuration</h3>
          <pre class="conn-config">${JSON.stringify(d.config ?? {}, null, 2)}</pre>
          <div class="toolbar">
            <${PauseButton} sol=${sol} c=${d} setError=${setError} onDone=${onChanged} />
            <button type="button" class="danger" onClick=${remove}>Delete connector</button>
          </div>`
      : c.loading
        ? html`<p>Loading…</p>`
        : null}
  </section>`;
}

function CreateForm({ sol, onCreated }) {
  const types = useAsync((signal) => api.get('/api/v1/connector-types', { signal }), []);
  const [name, setName] = useState('');
  const [type, setType] = useState('');
  const [direction, setDirection] = useState('in');
  const [topic, setTopic] = useState('');
  const [config, setConfig] = useState('{}');
  const all = types.data?.items || [];
  const usable = all.filter((k) => (direction === 'in' ? !k.out_only : !!k.outbound));
  const chosen = usable.find((k) => k.type === type) || usable[0];
  const kind = chosen && (direction === 'in' ? chosen : chosen.outbound);
  const { busy, error, run, setError } = useAction(async () => {
    let cfg;
    try {
      cfg = JSON.parse(config);
    } catch (err) {
      setError(Object.assign(new Error('config: want a JSON object: ' + err.message), { field: 'config' }));
      return;
    }
    const body = { name: name.trim(), type: chosen.type, direction, config: cfg };
    if (direction === 'in') body.topic = topic.trim();
    const c = await api.post(solutionPath(sol, 'connectors'), body);
    setName('');
    onCreated(c);
  });
  return html`<form class="panel" onSubmit=${run} aria-labelledby="create-conn">
    <h2 id="create-conn">Create a connector</h2>
    <${ErrorBox} error=${types.error} />
    <div class="row">
      <${Field} label="Name" value=${name} onInput=${setName} name="conn-name" required />
      <${Select} label="Direction" value=${direction} onInput=${setDirection} options=${[['in', 'in: a source becomes events'], ['out', 'out: scripts publish through it']]} />
      <${Select} label="Type" value=${chosen?.type || ''} onInput=${setType} options=${usable.map((k) => [k.type, k.type])} />
      ${direction === 'in' ? html`<${Field} label="Topic" value=${topic} onInput=${setTopic} name="conn-topic" placeholder="ticks.second" required />` : null}
    </div>
    ${kind ? html`<p class="muted">${kind.description}${kind.secrets?.length ? ` Secret fields (never shown back): ${kind.secrets.join(', ')}.` : ''}</p>` : null}
    <${Field} label="Configuration (JSON)" type="textarea" value=${config} onInput=${setConfig} name="conn-config" />
    ${kind ? html`<details><summary>Schema of a ${chosen.type} configuration</summary><pre>${JSON.stringify(kind.schema, null, 2)}</pre></details>` : null}
    <button type="submit" class="primary" disabled=${busy || !chosen}>Create connector</button>
    <${ErrorBox} error=${error} />
  </form>`;
}

function ConnectorsPage({ params, query, navigate }) {
  const sol = params.solution;
  const list = useAsync((signal) => api.get(solutionPath(sol, 'connectors'), { signal }), [sol]);
  const [error, setError] = useState(null);
  const selected = query.name;
  // tick reads the chosen connector again whenever the list is.
  const [tick, setTick] = useState(0);
  const refresh = () => {
    list.reload();
    setTick((n) => n + 1);
  };
  // States and lags change on their own: both are read again every few seconds.
  useEffect(() => {
    const timer = setInterval(refresh, refreshMs);
    return () => clearInterval(timer);
  }, [sol]);
  return html`<section>
    <h1>Connectors</h1>
    <p class="muted">Read again every ${refreshMs / 1000} seconds.</p>
    <${ErrorBox} error=${list.error || error} />
    ${list.data
      ? html`<table class="connectors">
          <thead><tr><th scope="col">Name</th><th scope="col">Type</th><th scope="col">Topic</th><th scope="col">State</th><th scope="col">Lag</th><th scope="col">Last error</th><th scope="col">Action</th></tr></thead>
          <tbody>
            ${list.data.items.length === 0 ? html`<tr><td colspan="7" class="muted">No connectors yet.</td></tr>` : null}
            ${list.data.items.map(
              (c) => html`<tr data-name=${c.name}>
                <td><a href=${href(route, { solution: sol }, { name: c.name })} aria-current=${selected === c.name ? 'true' : undefined}>${c.name}</a></td>
                <td>${c.type}${c.direction === 'out' ? ' (out)' : ''}</td>
                <td>${c.topic ? html`<code>${c.topic}</code>` : '—'}</td>
                <td><${State} c=${c} /></td>
                <td>${num(c.status?.lag)}</td>
                <td>${c.status?.last_error || ''}</td>
                <td><${PauseButton} sol=${sol} c=${c} onDone=${refresh} setError=${setError} /></td>
              </tr>`,
            )}
          </tbody>
        </table>
        <div class="toolbar"><button type="button" onClick=${refresh}>Reload</button></div>`
      : list.loading
        ? html`<p>Loading…</p>`
        : null}
    ${selected
      ? html`<${Detail} key=${selected} sol=${sol} name=${selected} tick=${tick} onChanged=${refresh} navigate=${navigate} />`
      : html`<${CreateForm} sol=${sol} onCreated=${(c) => {
          list.reload();
          navigate(href(route, { solution: sol }, { name: c.name }));
        }} />`}
  </section>`;
}

register({ id: 'connectors', title: 'Connectors', route, order: 70, render: (ctx) => html`<${ConnectorsPage} ...${ctx} />` });

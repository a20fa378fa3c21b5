// Services: the marketplace (every service with its health, operations, events and examples), a
// service's detail, and the services added to the solution, added and updated with a form made
// from the service's configuration parameters. Secret parameters are password inputs, sent only
// when typed: the API never shows them back, and an update without one keeps it.
import { html, useState } from '../vendor/preact.js';
import { register, href } from '../registry.js';
import { api, solutionPath } from '../api.js';
import { confirmAction, ErrorBox, Field, Select, fmtTime, useAction, useAsync } from '../ui.js';

const route = '/solutions/:solution/services';
const detailRoute = '/solutions/:solution/services/:service';

function Health({ health }) {
  const status = health?.status || 'unknown';
  if (status === 'down') return html`<strong class="health">down</strong>`;
  return html`<span class=${'health ' + (status === 'up' ? 'ok' : 'muted')}>${status}</span>`;
}

// formOf is the form's text for each parameter the user sets: secrets always start empty.
function formOf(params, values = {}) {
  const out = {};
  for (const p of params) {
    const v = p.secret ? undefined : values[p.name] !== undefined ? values[p.name] : p.default;
    if (p.type === 'boolean') out[p.name] = v === true;
    else if (v === undefined || v === null) out[p.name] = '';
    else if (typeof v === 'object') out[p.name] = JSON.stringify(v, null, 2);
    else out[p.name] = String(v);
  }
  return out;
}

// bodyOf turns the form back into parameters: an empty field is left out (a secret left empty
// on an update is kept by the server); numbers, objects and arrays are parsed, and a value
// that does not parse is refused here, naming its field.
export function bodyOf(params, form) {
  const out = {};
  for (const p of params) {
    const v = form[p.name];
    if (p.type === 'boolean') {
      out[p.name] = !!v;
      continue;
    }
    if (v === '' || v === undefined) continue;
    if (p.enum && p.enum.length) {
      const hit = p.enum.find((e) => String(e) === v);
      out[p.name] = hit !== undefined ? hit : v;
    } else if (p.type === 'integer' || p.type === 'number') {
      const n = Number(v);
      if (v.trim() === '' || !Number.isFinite(n) || (p.type === 'integer' && !Number.isInteger(n))) {
        throw Object.assign(new Error(`${p.name}: want ${p.type === 'integer' ? 'a whole number' : 'a number'}, got "${v}"`), { field: 'parameters.' + p.name });
      }
      out[p.name] = n;
    } else if (p.type === 'object' || p.type === 'array') {
      try {
        out[p.name] = JSON.parse(v);
      } catch (err) {
        throw Object.assign(new Error(`${p.name}: want JSON (${p.type}): ${err.message}`), { field: 'parameters.' + p.name });
      }
    } else {
      out[p.name] = v;
    }
  }
  return out;
}

function ParamField({ p, value, set, updating }) {
  const required = p.required && !(p.secret && updating);
  const label = (p.title || p.name) + (required ? ' (required)' : '');
  const hint = [p.description, p.secret ? (updating ? 'secret: never shown; leave empty to keep the value set' : 'secret: never shown again once saved') : '']
    .filter(Boolean)
    .join(' — ');
  if (p.enum && p.enum.length) {
    const opts = (p.required ? [] : [['', '(none)']]).concat(p.enum.map((e) => [String(e), String(e)]));
    return html`<${Select} label=${label} value=${value} onInput=${set} options=${opts} />`;
  }
  if (p.type === 'boolean') return html`<${Field} label=${label} type="checkbox" value=${value} onInput=${set} name=${'param-' + p.name} />`;
  if (p.type === 'object' || p.type === 'array') {
    return html`<${Field} label=${label + ' (JSON)'} type="textarea" value=${value} onInput=${set} name=${'param-' + p.name} hint=${hint} />`;
  }
  const type = p.secret ? 'password' : p.type === 'integer' || p.type === 'number' ? 'number' : 'text';
  return html`<${Field}
    label=${label}
    type=${type}
    value=${value}
    onInput=${set}
    name=${'param-' + p.name}
    hint=${hint}
    autocomplete=${p.secret ? 'new-password' : 'off'}
    step=${type === 'number' ? 'any' : undefined}
    required=${required}
  />`;
}

// ConfigForm adds the service to the solution (POST) or updates it (PUT).
function ConfigForm({ sol, svc, added, onSaved }) {
  const params = (svc.marketplace?.config_parameters || []).filter((p) => !p.restricted);
  const hubSet = (svc.marketplace?.config_parameters || []).filter((p) => p.restricted);
  const [form, setForm] = useState(() => formOf(params, added?.parameters));
  const [saved, setSaved] = useState('');
  const { busy, error, run } = useAction(async () => {
    setSaved('');
    const parameters = bodyOf(params, form);
    const res = added
      ? await api.put(solutionPath(sol, 'services', svc.name), { parameters })
      : await api.post(solutionPath(sol, 'services'), { service: svc.name, parameters });
    // Secrets typed are forgotten at once: the form never holds them after saving.
    setForm(formOf(params, res.parameters));
    setSaved(added ? 'Saved.' : `Added ${svc.name} to ${sol}.`);
    onSaved(res);
  });
  return html`<form class="panel" onSubmit=${run} aria-labelledby="config-title" autocomplete="off">
    <h2 id="config-title">${added ? 'Configuration' : 'Add to ' + sol}</h2>
    ${params.length === 0 ? html`<p class="muted">This service takes no configuration.</p>` : null}
    ${params.map((p) => html`<${ParamField} key=${p.name} p=${p} value=${form[p.name]} set=${(v) => setForm({ ...form, [p.name]: v })} updating=${!!added} />`)}
    ${hubSet.length ? html`<p class="muted">Set by the hub: ${hubSet.map((p) => `${p.name} (${p.from})`).join(', ')}.</p>` : null}
    <button type="submit" class="primary" disabled=${busy}>${added ? 'Save' : 'Add service'}</button>
    ${saved ? html` <span class="ok" role="status">${saved}</span>` : null}
    <${ErrorBox} error=${error} />
  </form>`;
}

function Operations({ svc }) {
  const market = svc.marketplace;
  const ops = market ? market.operations : svc.operations.map((o) => ({ name: o.name, summary: o.description }));
  if (!ops.length) return html`<p class="muted">No operations.</p>`;
  return html`<table>
    <thead><tr><th scope="col">Operation</th><th scope="col">What it does</th><th scope="col">Example</th></tr></thead>
    <tbody>
      ${ops.map(
        (o) => html`<tr>
          <td><code>${svc.name}.${o.name}</code></td>
          <td>${o.summary || ''}${o.description ? html`<div class="muted">${o.description}</div>` : null}</td>
          <td>${o.example ? html`<pre class="example">${o.example}</pre>` : html`<span class="muted">none</span>`}</td>
        </tr>`,
      )}
    </tbody>
  </table>`;
}

function ServiceDetail({ params, navigate }) {
  const sol = params.solution;
  const name = params.service;
  const svc = useAsync((signal) => api.get('/api/v1/services/' + encodeURIComponent(name), { signal }), [name]);
  const added = useAsync(
    (signal) => api.get(solutionPath(sol, 'services', name), { signal }).catch((err) => (err.status === 404 ? null : Promise.reject(err))),
    [sol, name],
  );
  const [error, setError] = useState(null);
  const remove = async () => {
    const yes = await confirmAction({
      title: `Remove ${name} from ${sol}?`,
      message: `Scripts of ${sol} can no longer call ${name}, and its configuration, secrets included, is deleted.`,
      confirmLabel: 'Remove service',
    });
    if (!yes) return;
    try {
      await api.del(solutionPath(sol, 'services', name));
      navigate(href(route, { solution: sol }));
    } catch (err) {
      setError(err);
    }
  };
  const s = svc.data;
  const events = s?.marketplace ? s.marketplace.events : (s?.events || []).map((e) => ({ name: e }));
  return html`<section>
    <p><a href=${href(route, { solution: sol })}>← Services</a></p>
    <h1>Service ${name}</h1>
    <${ErrorBox} error=${svc.error || added.error || error} />
    ${s
      ? html`<dl class="kv">
            <dt>Kind</dt><dd>${s.kind}</dd>
            <dt>Health</dt><dd><${Health} health=${s.health} />${s.health.checked_at ? ` (checked ${fmtTime(s.health.checked_at)})` : ''}${s.health.error ? ` — ${s.health.error}` : ''}</dd>
            ${s.marketplace?.version ? html`<dt>Version</dt><dd>${s.marketplace.version}</dd>` : null}
            ${s.description ? html`<dt>Description</dt><dd>${s.description}</dd>` : null}
          </dl>
          <h2>Operations</h2>
          <${Operations} svc=${s} />
          <h2>Events</h2>
          ${events.length
            ? html`<ul class="events">${events.map((e) => html`<li><code>${name}.${e.name}</code>${e.description ? ' — ' + e.description : ''}</li>`)}</ul>`
            : html`<p class="muted">It triggers no events.</p>`}
          ${added.loading
            ? null
            : s.kind === 'core'
              ? html`<p class="muted">A core service: every solution may call it; nothing to add.</p>`
              : html`${added.data
                    ? html`<p class="ok" role="status">Added to ${sol} ${fmtTime(added.data.added_at)}, updated ${fmtTime(added.data.updated_at)}.</p>
                        ${added.data.info_error ? html`<p class="muted">Its info: ${added.data.info_error}</p>` : null}
                        ${added.data.info !== undefined ? html`<h3>What the service says of it</h3><pre>${JSON.stringify(added.data.info, null, 2)}</pre>` : null}`
                    : null}
                  <${ConfigForm} key=${added.data ? 'update' : 'add'} sol=${sol} svc=${s} added=${added.data} onSaved=${added.reload} />
                  ${added.data ? html`<button type="button" class="danger" onClick=${remove}>Remove from ${sol}</button>` : null}`}`
      : svc.loading
        ? html`<p>Loading…</p>`
        : null}
  </section>`;
}

function ServicesPage({ params }) {
  const sol = params.solution;
  const market = useAsync((signal) => api.get('/api/v1/services', { signal }), []);
  const added = useAsync((signal) => api.get(solutionPath(sol, 'services'), { signal }), [sol]);
  const [filter, setFilter] = useState('');
  const link = (name) => href(detailRoute, { solution: sol, service: name });
  const f = filter.trim().toLowerCase();
  const shown = (market.data?.items || []).filter((s) => !f || s.name.toLowerCase().includes(f) || (s.description || '').toLowerCase().includes(f));
  return html`<section>
    <h1>Services</h1>
    <${ErrorBox} error=${market.error || added.error} />
    <h2>Added to ${sol}</h2>
    ${added.data
      ? added.data.items.length
        ? html`<table class="added">
            <thead><tr><th scope="col">Service</th><th scope="col">Parameters</th><th scope="col">Added</th><th scope="col">Updated</th></tr></thead>
            <tbody>
              ${added.data.items.map(
                (a) => html`<tr>
                  <td><a href=${link(a.service)}>${a.service}</a></td>
                  <td><code>${Object.keys(a.parameters).length ? JSON.stringify(a.parameters) : '—'}</code></td>
                  <td>${fmtTime(a.added_at)}</td>
                  <td>${fmtTime(a.updated_at)}</td>
                </tr>`,
              )}
            </tbody>
          </table>`
        : html`<p class="muted">No service added yet: choose one in the marketplace below.</p>`
      : null}
    <h2>Marketplace</h2>
    <div class="row"><${Field} label="Filter by name or description" value=${filter} onInput=${setFilter} name="filter" /></div>
    ${market.data
      ? html`<table class="market">
          <thead><tr><th scope="col">Service</th><th scope="col">Kind</th><th scope="col">Health</th><th scope="col">Operations</th><th scope="col">Events</th><th scope="col">Description</th></tr></thead>
          <tbody>
            ${shown.map(
              (s) => html`<tr>
                <td><a href=${link(s.name)}>${s.name}</a></td>
                <td>${s.kind}</td>
                <td><${Health} health=${s.health} /></td>
                <td>${s.operations.length}</td>
                <td>${s.events.length ? s.events.join(', ') : '—'}</td>
                <td>${s.description || ''}</td>
              </tr>`,
            )}
          </tbody>
        </table>`
      : market.loading
        ? html`<p>Loading…</p>`
        : null}
  </section>`;
}

register({ id: 'services', title: 'Services', route, order: 40, render: (ctx) => html`<${ServicesPage} ...${ctx} />` });
register({ id: 'service', title: 'Service', route: detailRoute, order: 41, nav: false, render: (ctx) => html`<${ServiceDetail} ...${ctx} />` });

// Hosted services, flows and nodes: what runs on the solution's nodes. A hosted service's
// versions and their code (read-only text); a flow's instances; nodes with their online state,
// last report, agent version and running instances, restarted, disabled or enabled from here.
// Security property values are never shown: the API answers "(set)" for them, and so do we.
import { html } from '../vendor/preact.js';
import { register, href } from '../registry.js';
import { api, solutionPath } from '../api.js';
import { confirmAction, ErrorBox, fmtBytes, fmtTime, useAction, useAsync } from '../ui.js';

const servicesRoute = '/solutions/:solution/hosted-services';
const flowsRoute = '/solutions/:solution/flows';
const nodesRoute = '/solutions/:solution/nodes';

function Props({ title, props }) {
  if (!props || props.length === 0) return null;
  return html`<h4>${title}</h4>
    <ul>
      ${props.map((p) => html`<li><code>${p.name}</code>${p.type ? ` (${p.type})` : ''}${p.required ? ', required' : ''}${p.description ? ': ' + p.description : ''}</li>`)}
    </ul>`;
}

function VersionCode({ sol, name, version }) {
  const v = useAsync((signal) => api.get(solutionPath(sol, 'hosted-services', name, 'versions', version), { signal }), [sol, name, version]);
  if (v.error) return html`<${ErrorBox} error=${v.error} />`;
  if (!v.data) return html`<p>Loading…</p>`;
  return html`<h3>Code of version ${version}</h3><pre class="hosted-code" tabindex="0" aria-label=${`Code of ${name} ${version}`}>${v.data.code}</pre>`;
}

function ServiceDetail({ sol, name, version }) {
  const svc = useAsync((signal) => api.get(solutionPath(sol, 'hosted-services', name), { signal }), [sol, name]);
  if (svc.error) return html`<${ErrorBox} error=${svc.error} />`;
  if (!svc.data) return html`<p>Loading…</p>`;
  const s = svc.data;
  const shown = version || (s.versions.length ? s.versions[s.versions.length - 1].version : '');
  return html`<section aria-labelledby="svc-title">
    <h2 id="svc-title">${s.name} <span class="muted">${s.kind}</span></h2>
    ${s.description ? html`<p>${s.description}</p>` : null}
    <table>
      <caption class="visually-hidden">Versions of ${s.name}, oldest first</caption>
      <thead><tr><th scope="col">Version</th><th scope="col">Created</th><th scope="col">Size</th><th scope="col">SHA-256</th></tr></thead>
      <tbody>
        ${s.versions.map(
          (v) => html`<tr key=${v.version}>
            <td><a href=${href(servicesRoute, { solution: sol }, { name: s.name, version: v.version })} aria-current=${v.version === shown ? 'true' : undefined}>${v.version}</a></td>
            <td>${fmtTime(v.created_at)}</td>
            <td>${fmtBytes(v.code_bytes)}</td>
            <td><code>${v.code_sha256.slice(0, 16)}…</code></td>
          </tr>`,
        )}
      </tbody>
    </table>
    ${s.versions
      .filter((v) => v.version === shown)
      .map((v) => html`<div key=${v.version}><${Props} title="Static properties" props=${v.static_properties} /><${Props} title="Security properties (values never shown)" props=${v.security_properties} /></div>`)}
    ${shown ? html`<${VersionCode} key=${shown} sol=${sol} name=${s.name} version=${shown} />` : null}
  </section>`;
}

function ServicesPage({ params, query }) {
  const sol = params.solution;
  const list = useAsync((signal) => api.get(solutionPath(sol, 'hosted-services'), { signal }), [sol]);
  const items = (list.data?.items || []).map((s) => ({
    label: html`${s.name} <span class="muted">${s.kind}</span>`,
    href: href(servicesRoute, { solution: sol }, { name: s.name }),
    current: query.name === s.name,
  }));
  return html`<section>
    <h1>Hosted services</h1>
    <p class="muted">Code the hub keeps and runs as flow instances on the solution's nodes (<code>switchboard hosted</code> adds versions).</p>
    <${ErrorBox} error=${list.error} />
    <div class="split">
      <div><ul class="list" aria-label="Hosted services">
        ${items.length === 0 ? html`<li class="empty">None yet.</li>` : null}
        ${items.map((it) => html`<li><a href=${it.href} aria-current=${it.current ? 'true' : undefined}>${it.label}</a></li>`)}
      </ul></div>
      <div>${query.name ? html`<${ServiceDetail} key=${query.name} sol=${sol} name=${query.name} version=${query.version} />` : html`<p class="muted">Choose a hosted service.</p>`}</div>
    </div>
  </section>`;
}

// securityShown is a security property's value as shown: whatever the API said, never more
// than "(set)".
const securityShown = (v) => (v ? '(set)' : '');

function FlowDetail({ sol, name }) {
  const flow = useAsync((signal) => api.get(solutionPath(sol, 'flows', name), { signal }), [sol, name]);
  if (flow.error) return html`<${ErrorBox} error=${flow.error} />`;
  if (!flow.data) return html`<p>Loading…</p>`;
  const f = flow.data;
  return html`<section aria-labelledby="flow-title">
    <h2 id="flow-title">Flow ${f.name}</h2>
    ${f.description ? html`<p>${f.description}</p>` : null}
    <p class="muted">Updated ${fmtTime(f.updated_at)}</p>
    <table class="flow-instances">
      <caption class="visually-hidden">Instances of flow ${f.name}</caption>
      <thead><tr><th scope="col">Instance</th><th scope="col">Service</th><th scope="col">Version</th><th scope="col">Runs on</th><th scope="col">Static properties</th><th scope="col">Security properties</th></tr></thead>
      <tbody>
        ${f.instances.map(
          (i) => html`<tr key=${i.name}>
            <td>${i.name}</td>
            <td><a href=${href(servicesRoute, { solution: sol }, { name: i.service })}>${i.service}</a></td>
            <td>${i.version || 'newest'}</td>
            <td>${i.node ? 'node ' + i.node : i.tag ? 'nodes tagged ' + i.tag : ''}</td>
            <td>${Object.entries(i.static || {}).map(([k, v]) => html`<div><code>${k}</code> = ${JSON.stringify(v)}</div>`)}</td>
            <td>${Object.entries(i.security || {}).map(([k, v]) => html`<div><code>${k}</code> ${securityShown(v)}</div>`)}</td>
          </tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}

function FlowsPage({ params, query }) {
  const sol = params.solution;
  const list = useAsync((signal) => api.get(solutionPath(sol, 'flows'), { signal }), [sol]);
  const items = (list.data?.items || []).map((f) => ({
    label: html`${f.name} <span class="muted">${f.instances.length} instance${f.instances.length === 1 ? '' : 's'}</span>`,
    href: href(flowsRoute, { solution: sol }, { name: f.name }),
    current: query.name === f.name,
  }));
  return html`<section>
    <h1>Flows</h1>
    <p class="muted">Instances of hosted services, each placed on a node or on the nodes of a tag.</p>
    <${ErrorBox} error=${list.error} />
    <div class="split">
      <div><ul class="list" aria-label="Flows">
        ${items.length === 0 ? html`<li class="empty">None yet.</li>` : null}
        ${items.map((it) => html`<li><a href=${it.href} aria-current=${it.current ? 'true' : undefined}>${it.label}</a></li>`)}
      </ul></div>
      <div>${query.name ? html`<${FlowDetail} key=${query.name} sol=${sol} name=${query.name} />` : html`<p class="muted">Choose a flow.</p>`}</div>
    </div>
  </section>`;
}

function NodeRow({ sol, n, onChanged }) {
  const path = solutionPath(sol, 'nodes', n.name);
  const restart = useAction(async () => {
    await api.post(path + '/restart', {});
    onChanged();
  });
  const toggle = useAction(async () => {
    if (!n.disabled) {
      const ok = await confirmAction({
        title: `Disable node ${n.name}?`,
        message: `Node ${n.name} stops its instances and runs nothing until it is enabled again.`,
        confirmLabel: 'Disable',
      });
      if (!ok) return;
    }
    await api.patch(path, { disabled: !n.disabled });
    onChanged();
  });
  return html`<tr key=${n.name} class="node">
    <td>${n.name}${n.hub ? html` <span class="muted">(the hub)</span>` : null}</td>
    <td class="node-state">${n.disabled ? 'disabled' : n.online ? 'online' : 'offline'}</td>
    <td>${n.last_seen ? fmtTime(n.last_seen) : "never"}</td>
    <td>${n.agent_version || ''}</td>
    <td>${(n.tags || []).join(', ')}</td>
    <td>
      ${(n.instances || []).length === 0 ? html`<span class="muted">none</span>` : null}
      ${(n.instances || []).map((i) => html`<div>${i.name}: ${i.service} ${i.version} <span class="muted">${i.state}</span></div>`)}
    </td>
    <td>
      <div class="toolbar">
        <button type="button" onClick=${restart.run} disabled=${restart.busy} aria-label=${`Restart ${n.name}`}>Restart</button>
        <button type="button" class=${n.disabled ? '' : 'danger'} onClick=${toggle.run} disabled=${toggle.busy} aria-label=${`${n.disabled ? 'Enable' : 'Disable'} ${n.name}`}>${n.disabled ? 'Enable' : 'Disable'}</button>
      </div>
      <${ErrorBox} error=${restart.error || toggle.error} />
    </td>
  </tr>`;
}

function NodesPage({ params }) {
  const sol = params.solution;
  const list = useAsync((signal) => api.get(solutionPath(sol, 'nodes'), { signal }), [sol]);
  const nodes = list.data?.items || [];
  return html`<section>
    <h1>Nodes</h1>
    <p class="muted">Where flow instances run: the hub, and the machines whose agent signed in (<code>switchboard node</code> adds one).</p>
    <div class="toolbar"><button type="button" onClick=${list.reload}>Refresh</button></div>
    <${ErrorBox} error=${list.error} />
    <table class="nodes">
      <caption class="visually-hidden">Nodes of the solution</caption>
      <thead><tr><th scope="col">Node</th><th scope="col">State</th><th scope="col">Last seen</th><th scope="col">Agent</th><th scope="col">Tags</th><th scope="col">Running</th><th scope="col">Actions</th></tr></thead>
      <tbody>
        ${nodes.map((n) => html`<${NodeRow} key=${n.name} sol=${sol} n=${n} onChanged=${list.reload} />`)}
        ${nodes.length === 0 && !list.loading ? html`<tr><td colspan="7" class="muted">No nodes.</td></tr>` : null}
      </tbody>
    </table>
  </section>`;
}

register({ id: 'hosted-services', title: 'Hosted services', route: servicesRoute, order: 80, render: (ctx) => html`<${ServicesPage} ...${ctx} />` });
register({ id: 'flows', title: 'Flows', route: flowsRoute, order: 82, render: (ctx) => html`<${FlowsPage} ...${ctx} />` });
register({ id: 'nodes', title: 'Nodes', route: nodesRoute, order: 84, render: (ctx) => html`<${NodesPage} ...${ctx} />` });

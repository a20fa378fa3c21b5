// Kyma applications: the solution's applications (GraphQL, POST /api/v1/graphql, as
// docs/kyma-eventing.md shows), an application's event API definitions with their AsyncAPI
// specs shown as text and as a table of channels and messages, and client credentials requested
// for the event gateway: shown once, in this page's memory only, never stored.
import { html, useState } from '../vendor/preact.js';
import { register, href } from '../registry.js';
import { ApiError } from '../api.js';
import { storedToken } from '../session.js';
import { Copy, ErrorBox, Pager, fmtTime, useAction, useAsync, usePages } from '../ui.js';
import { parse as parseYAMLText } from '../vendor/yaml.js';

const route = '/solutions/:solution/applications';
// pageSize is the GraphQL API's largest page of applications.
const pageSize = 100;

// gql posts a GraphQL request in solution sol; GraphQL errors become an ApiError with the
// field the server names (extensions.field).
export async function gql(sol, query, variables, { signal } = {}) {
  let res;
  try {
    res = await fetch('/api/v1/graphql', {
      method: 'POST',
      headers: { Authorization: 'Bearer ' + storedToken(), 'Content-Type': 'application/json', 'X-Switchboard-Solution': sol },
      body: JSON.stringify({ query, variables }),
      signal,
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, { error: 'the server could not be reached: ' + err.message });
  }
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (res.status === 401) window.dispatchEvent(new CustomEvent('console:unauthorized'));
  const first = body?.errors?.[0];
  if (first || !res.ok) {
    throw new ApiError(res.status === 200 ? 400 : res.status, { error: first?.message || `HTTP ${res.status}`, field: first?.extensions?.field });
  }
  return body.data;
}

const listQuery = `query($first: Int, $after: PageCursor) {
  applications(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    data { id name description status { condition } eventAPIs { totalCount } auths { id } }
  }
}`;

const appQuery = `query($id: ID!) {
  application(id: $id) {
    id name description labels healthCheckURL
    status { condition timestamp }
    auths { id auth { credential { ... on OAuthCredentialData { clientId } } } }
    eventAPIs {
      data {
        id name description group
        version { value deprecated }
        spec { data type format fetchRequest { url status { condition message } } }
        externalSubscriptions { url topic }
      }
    }
  }
}`;

const credentialsMutation = `mutation($id: ID!) {
  requestClientCredentialsForApplication(id: $id) {
    id
    auth { credential { ... on OAuthCredentialData { clientId clientSecret url } } }
  }
}`;

// parseYAML reads a YAML document into plain values with the yaml library; aliases are
// bounded (maxAliasCount), so a document cannot make itself expand without end.
export function parseYAML(text) {
  return parseYAMLText(text, { maxAliasCount: 100, uniqueKeys: true });
}

// readSpec reads a spec's text: JSON if it parses as JSON, else YAML. text is what to show:
// JSON pretty-printed, YAML as written.
export function readSpec(data) {
  const src = data || '';
  try {
    const doc = JSON.parse(src);
    return { doc, text: JSON.stringify(doc, null, 2), format: 'JSON' };
  } catch {
    /* not JSON: YAML */
  }
  try {
    return { doc: parseYAML(src), text: src, format: 'YAML' };
  } catch (err) {
    return { doc: null, text: src, format: 'YAML', error: err.message };
  }
}

const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

function payloadText(p) {
  if (!isObj(p)) return p === undefined ? '' : JSON.stringify(p);
  if (p.$ref) return p.$ref;
  const parts = [p.type || 'any'];
  if (isObj(p.properties)) parts.push('properties: ' + Object.keys(p.properties).join(', '));
  if (Array.isArray(p.required) && p.required.length) parts.push('required: ' + p.required.join(', '));
  return parts.join('; ');
}

// channelRows lists an AsyncAPI 2 document's channels with each operation's messages.
export function channelRows(doc) {
  const rows = [];
  if (!isObj(doc) || !isObj(doc.channels)) return rows;
  for (const [name, ch] of Object.entries(doc.channels)) {
    let any = false;
    for (const op of ['subscribe', 'publish']) {
      const o = isObj(ch) ? ch[op] : null;
      if (!isObj(o)) continue;
      const msgs = isObj(o.message) && Array.isArray(o.message.oneOf) ? o.message.oneOf : [o.message];
      for (const m of msgs) {
        any = true;
        rows.push({
          channel: name,
          op,
          message: isObj(m) ? m.name || m.title || m.messageId || m.$ref || '' : '',
          payload: isObj(m) ? payloadText(m.payload) : '',
        });
      }
    }
    if (!any) rows.push({ channel: name, op: '', message: '', payload: '' });
  }
  return rows;
}

function EventAPI({ app, api: e }) {
  const spec = readSpec(e.spec?.data);
  const rows = channelRows(spec.doc);
  const fetched = e.spec?.fetchRequest;
  return html`<section class="panel event-api" aria-labelledby=${'api-' + e.id}>
    <h3 id=${'api-' + e.id}>${e.name}${e.version ? ` — version ${e.version.value}${e.version.deprecated ? ' (deprecated)' : ''}` : ''}</h3>
    <dl class="kv">
      ${e.group ? html`<dt>Group</dt><dd>${e.group}</dd>` : null}
      ${e.description ? html`<dt>Description</dt><dd>${e.description}</dd>` : null}
      <dt>Spec</dt><dd>${e.spec?.type} (${e.spec?.format || spec.format})</dd>
      ${fetched ? html`<dt>Fetched from</dt><dd><code>${fetched.url}</code> — ${fetched.status?.condition}${fetched.status?.message ? ': ' + fetched.status.message : ''}</dd>` : null}
      ${e.externalSubscriptions?.length
        ? html`<dt>External buses</dt><dd>${e.externalSubscriptions.map((x) => html`<div><code>${x.url}</code> topic <code>${x.topic}</code></div>`)}</dd>`
        : null}
    </dl>
    <h4>Channels</h4>
    ${spec.error ? html`<p class="muted">The channels could not be read from this spec (${spec.error}); it is shown below as written.</p>` : null}
    ${rows.length
      ? html`<table class="channels">
          <thead><tr><th scope="col">Channel</th><th scope="col">Topic</th><th scope="col">Operation</th><th scope="col">Message</th><th scope="col">Payload</th></tr></thead>
          <tbody>
            ${rows.map(
              (r) => html`<tr>
                <td><code>${r.channel}</code></td>
                <td><code>${app.name + '.' + r.channel.split('/').filter(Boolean).join('.')}</code></td>
                <td>${r.op}</td>
                <td>${r.message}</td>
                <td>${r.payload}</td>
              </tr>`,
            )}
          </tbody>
        </table>`
      : spec.error
        ? null
        : html`<p class="muted">No channels.</p>`}
    <details>
      <summary>The AsyncAPI spec (${spec.format})</summary>
      <pre class="spec">${spec.text}</pre>
    </details>
  </section>`;
}

// Credentials asks for a new client id and secret; they live in this component's state alone,
// gone with the page.
function Credentials({ sol, app, onIssued }) {
  const [creds, setCreds] = useState(null);
  const { busy, error, run } = useAction(async () => {
    const res = await gql(sol, credentialsMutation, { id: app.id });
    setCreds(res.requestClientCredentialsForApplication.auth.credential);
    onIssued();
  });
  return html`<section class="panel" aria-labelledby="creds-title">
    <h2 id="creds-title">Client credentials</h2>
    <p class="muted">For the event gateway: the application exchanges them at the token endpoint for an access token. Each request adds a credential; its secret is shown this once.</p>
    ${app.auths.length
      ? html`<p>Credentials issued: ${app.auths.map((a, i) => html`${i ? ', ' : ''}<code>${a.auth?.credential?.clientId || a.id}</code>`)}.</p>`
      : html`<p class="muted">None issued yet.</p>`}
    ${creds
      ? html`<div class="token creds" role="status">
          <p>Shown only this once (the server keeps a salted hash):</p>
          <dl class="kv">
            <dt>Client id</dt><dd><code class="client-id">${creds.clientId}</code> <${Copy} text=${creds.clientId} label="Copy client id" /></dd>
            <dt>Client secret</dt><dd><code class="client-secret">${creds.clientSecret}</code> <${Copy} text=${creds.clientSecret} label="Copy client secret" /></dd>
            <dt>Token endpoint</dt><dd><code>${creds.url}</code></dd>
          </dl>
          <button type="button" class="link" onClick=${() => setCreds(null)}>Hide the credentials</button>
        </div>`
      : html`<button type="button" class="primary" onClick=${run} disabled=${busy}>Request client credentials</button>`}
    <${ErrorBox} error=${error} />
  </section>`;
}

function AppDetail({ sol, id, onChanged }) {
  const app = useAsync((signal) => gql(sol, appQuery, { id }, { signal }), [sol, id]);
  const a = app.data?.application;
  return html`<div class="app-detail">
    <${ErrorBox} error=${app.error} />
    ${app.data && !a ? html`<p class="error" role="alert">No application ${id} in ${sol}.</p>` : null}
    ${a
      ? html`<h2>Application ${a.name}</h2>
          <dl class="kv">
            <dt>Id</dt><dd><code>${a.id}</code></dd>
            <dt>Status</dt><dd>${a.status.condition} (${fmtTime(a.status.timestamp)})</dd>
            ${a.description ? html`<dt>Description</dt><dd>${a.description}</dd>` : null}
            ${a.healthCheckURL ? html`<dt>Health check</dt><dd><code>${a.healthCheckURL}</code></dd>` : null}
            <dt>Labels</dt><dd><code>${JSON.stringify(a.labels || {})}</code></dd>
            <dt>Gateway</dt><dd><code>/gateway/${a.name}/publish</code>, <code>/gateway/${a.name}/v1/events</code></dd>
          </dl>
          <${Credentials}
            sol=${sol}
            app=${a}
            onIssued=${() => {
              app.reload();
              onChanged();
            }}
          />
          <h2>Event APIs</h2>
          ${a.eventAPIs.data.length ? a.eventAPIs.data.map((e) => html`<${EventAPI} key=${e.id} app=${a} api=${e} />`) : html`<p class="muted">No event APIs.</p>`}`
      : app.loading
        ? html`<p>Loading…</p>`
        : null}
  </div>`;
}

function ApplicationsPage({ params, query }) {
  const sol = params.solution;
  const pages = usePages(null);
  const list = useAsync((signal) => gql(sol, listQuery, { first: pageSize, after: pages.cursor }, { signal }), [sol, pages.cursor]);
  const page = list.data?.applications;
  return html`<section>
    <h1>Kyma applications</h1>
    <p class="muted">Outside systems sending events through the event gateway, registered with the GraphQL API (<code>/api/v1/graphql</code>, docs/kyma-eventing.md).</p>
    <${ErrorBox} error=${list.error} />
    ${page
      ? html`<table class="apps">
            <thead><tr><th scope="col">Name</th><th scope="col">Status</th><th scope="col">Event APIs</th><th scope="col">Credentials</th><th scope="col">Description</th></tr></thead>
            <tbody>
              ${page.data.length === 0 ? html`<tr><td colspan="5" class="muted">No applications registered.</td></tr>` : null}
              ${page.data.map(
                (a) => html`<tr>
                  <td><a href=${href(route, { solution: sol }, { app: a.id })} aria-current=${query.app === a.id ? 'true' : undefined}>${a.name}</a></td>
                  <td>${a.status.condition}</td>
                  <td>${a.eventAPIs.totalCount}</td>
                  <td>${a.auths.length}</td>
                  <td>${a.description || ''}</td>
                </tr>`,
              )}
            </tbody>
          </table>
          ${page.pageInfo.hasNextPage || pages.hasPrev ? html`<${Pager} pages=${pages} nextCursor=${page.pageInfo.hasNextPage ? page.pageInfo.endCursor : ''} />` : null}`
      : list.loading
        ? html`<p>Loading…</p>`
        : null}
    ${query.app ? html`<${AppDetail} key=${query.app} sol=${sol} id=${query.app} onChanged=${list.reload} />` : null}
  </section>`;
}

register({ id: 'applications', title: 'Kyma applications', route, order: 80, render: (ctx) => html`<${ApplicationsPage} ...${ctx} />` });

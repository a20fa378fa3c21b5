// Kyma applications: the solution's applications (GraphQL, POST /api/v1/graphql, as
// docs/kyma-eventing.md shows), an application's event API definitions with their AsyncAPI
// specs shown as text and as a table of channels and messages, and client credentials requested
// for the event gateway: shown once, in this page's memory only, never stored.
import { html, useState } from '../vendor/preact.js';
import { register, href } from '../registry.js';
import { ApiError } from '../api.js';
import { storedToken } from '../session.js';
import { Copy, ErrorBox, Pager, fmtTime, useAction, useAsync, usePages } from '../ui.js';

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

// ---- A small YAML reader, enough for AsyncAPI documents: block mappings and sequences, flow
// collections, quoted and plain scalars, block scalars (| and >) and comments. Anchors, aliases
// and tags are refused. Only the channels table uses it: the spec itself is shown as written.

// maxFlowLines bounds the lines one flow collection may span.
const maxFlowLines = 100;

const keyRe = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s#'"[\]{},&*!|>%@`-][^#]*?|-[^\s#][^#]*?)\s*:(?=\s|$)/;

function scalar(v) {
  if (v === '' || v === '~' || v === 'null') return null;
  if (v === 'true') return true;
  if (v === 'false') return false;
  if (v[0] === '"') return JSON.parse(v);
  if (v[0] === "'") return v.slice(1, -1).replace(/''/g, "'");
  if (v[0] === '&' || v[0] === '*' || v[0] === '!') throw new Error(`anchors, aliases and tags are not read here: ${v}`);
  if (/^-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?$/.test(v)) return Number(v);
  return v;
}

function setKey(o, k, v) {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

function parseFlow(s) {
  let p = 0;
  const fail = () => new Error(`flow collection: unexpected ${s[p] === undefined ? 'end' : JSON.stringify(s[p])} at ${p}`);
  const ws = () => {
    while (p < s.length && /\s/.test(s[p])) p++;
  };
  const quoted = () => {
    const q = s[p];
    let j = p + 1;
    while (j < s.length && s[j] !== q) j += q === '"' && s[j] === '\\' ? 2 : q === "'" && s[j + 1] === "'" && s[j] === "'" ? 2 : 1;
    if (j >= s.length) throw fail();
    const text = s.slice(p, j + 1);
    p = j + 1;
    return scalar(text);
  };
  const plain = (stop) => {
    const start = p;
    while (p < s.length && !stop.test(s[p]) && !(s[p] === ':' && /[\s,\]}]/.test(s[p + 1] ?? ' '))) p++;
    return s.slice(start, p).trim();
  };
  const val = () => {
    ws();
    const c = s[p];
    if (c === '[' || c === '{') {
      const close = c === '[' ? ']' : '}';
      const out = c === '[' ? [] : {};
      p++;
      for (;;) {
        ws();
        if (s[p] === close) {
          p++;
          return out;
        }
        if (c === '[') out.push(val());
        else {
          const k = s[p] === '"' || s[p] === "'" ? String(quoted()) : plain(/[,}]/);
          ws();
          let v = null;
          if (s[p] === ':') {
            p++;
            v = val();
          }
          setKey(out, k, v);
        }
        ws();
        if (s[p] === ',') p++;
        else if (s[p] !== close) throw fail();
      }
    }
    if (c === '"' || c === "'") return quoted();
    if (c === undefined) throw fail();
    return scalar(plain(/[,\]}]/));
  };
  const v = val();
  ws();
  if (p < s.length) throw fail();
  return v;
}

export function parseYAML(text) {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  let i = 0;
  const indentOf = (l) => l.length - l.trimStart().length;
  const blank = (l) => /^\s*(#.*)?$/.test(l) || /^(---|\.\.\.)\s*(#.*)?$/.test(l) || /^%/.test(l);
  const skip = () => {
    while (i < lines.length && blank(lines[i])) i++;
  };
  const where = () => `line ${i + 1}`;
  const strip = (s) => {
    let q = null;
    for (let k = 0; k < s.length; k++) {
      const c = s[k];
      if (q) {
        if (q === '"' && c === '\\') k++;
        else if (c === q) q = null;
      } else if ((c === '"' || c === "'") && (k === 0 || /[\s:[{,]/.test(s[k - 1]))) q = c;
      else if (c === '#' && (k === 0 || /\s/.test(s[k - 1]))) return s.slice(0, k).trimEnd();
    }
    return s.trimEnd();
  };
  const isItem = (t) => t === '-' || t.startsWith('- ');
  const blockScalar = (style, parent) => {
    const body = [];
    while (i < lines.length && (lines[i].trim() === '' || indentOf(lines[i]) > parent)) body.push(lines[i++]);
    const ind = Math.min(...body.filter((l) => l.trim() !== '').map(indentOf), Infinity);
    const text = body.map((l) => l.slice(Math.min(ind, l.length)));
    while (text.length && text[text.length - 1] === '') text.pop();
    const joined = text.join('\n');
    return (style === '|' ? joined : joined.replace(/([^\n])\n(?=[^\n])/g, '$1 ')) + '\n';
  };
  const valueOf = (v, parent) => {
    if (v === '') {
      skip();
      if (i < lines.length && indentOf(lines[i]) === parent && isItem(lines[i].trimStart())) return parseSeq(parent);
      return parseNode(parent + 1);
    }
    if (/^[|>][+-]?\d?$/.test(v)) return blockScalar(v[0], parent);
    if (v[0] === '[' || v[0] === '{') {
      // A flow collection may go on over the next lines; each try parses it anew, so how many
      // lines it may take is bounded (a spec of one unclosed "[" would otherwise take n² time).
      let s = v;
      for (let joined = 0; ; joined++) {
        try {
          return parseFlow(s);
        } catch (err) {
          if (i >= lines.length || joined >= maxFlowLines) throw err;
          s += ' ' + strip(lines[i++]).trim();
        }
      }
    }
    return scalar(v);
  };
  function parseNode(min) {
    skip();
    if (i >= lines.length) return null;
    const ind = indentOf(lines[i]);
    if (ind < min) return null;
    return isItem(lines[i].slice(ind)) ? parseSeq(ind) : parseMap(ind);
  }
  function parseSeq(ind) {
    const out = [];
    for (;;) {
      skip();
      if (i >= lines.length || indentOf(lines[i]) !== ind || !isItem(lines[i].slice(ind))) return out;
      const rest = lines[i].slice(ind + 1);
      const t = strip(rest).trim();
      if (t === '') {
        i++;
        out.push(parseNode(ind + 1));
        continue;
      }
      const off = ind + 1 + indentOf(rest);
      lines[i] = ' '.repeat(off) + rest.trimStart();
      if (isItem(t)) out.push(parseSeq(off));
      else if (keyRe.test(t)) out.push(parseMap(off));
      else {
        i++;
        out.push(valueOf(t, ind));
      }
    }
  }
  function parseMap(ind) {
    const out = {};
    for (;;) {
      skip();
      if (i >= lines.length) return out;
      const li = indentOf(lines[i]);
      if (li < ind) return out;
      if (li > ind) throw new Error(`${where()}: unexpected indentation`);
      const t = strip(lines[i].slice(li));
      if (isItem(t)) return out;
      const m = t.match(keyRe);
      if (!m) throw new Error(`${where()}: want "key: value"`);
      i++;
      setKey(out, String(scalar(m[1])), valueOf(t.slice(m[0].length).trim(), ind));
    }
  }
  const doc = parseNode(0);
  skip();
  if (i < lines.length) throw new Error(`${where()}: unexpected indentation`);
  return doc;
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

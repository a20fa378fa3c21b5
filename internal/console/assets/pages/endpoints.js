// Endpoints: the list, editing a script (checked as it is typed, its syntax errors marked at
// their line), deploying it, and running it once with a composed request.
import { html, useEffect, useState } from '../vendor/preact.js';
import { register, href } from '../registry.js';
import { api, solutionPath } from '../api.js';
import { ErrorBox, Field, Select, fmtBytes, fmtMs, fmtTime, useAction, useAsync } from '../ui.js';
import { ItemList, Workbench } from '../workbench.js';

const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];
const route = '/solutions/:solution/endpoints';

const starter = `-- request: method, path, parameters, headers, body
print("hello from " .. request.path)
return {hello = "world"}
`;

// parseLines reads "Name: value" lines into an object.
function parseHeaders(text) {
  const out = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (line.trim() && i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

function parseQuery(text) {
  const out = {};
  for (const [k, v] of new URLSearchParams(text.replace(/^\?/, ''))) {
    out[k] = k in out ? [].concat(out[k], v) : v;
  }
  return out;
}

// RunPanel runs the editor's script once, as the endpoint would, and shows what it did.
function RunPanel({ sol, method, path, script, onErrorLine }) {
  const [reqPath, setReqPath] = useState(path);
  const [query, setQuery] = useState('');
  const [headers, setHeaders] = useState('');
  const [body, setBody] = useState('');
  const [result, setResult] = useState(null);
  useEffect(() => setReqPath(path), [path]);
  const run = useAction(async () => {
    setResult(null);
    const req = { script, name: `${method} ${path}`, method, path: reqPath, route: path, headers: parseHeaders(headers), query: parseQuery(query) };
    if (body.trim() !== '') {
      try {
        req.body = JSON.parse(body);
      } catch {
        req.body = body; // not JSON: sent as text
      }
    }
    const res = await api.post(solutionPath(sol, 'run'), req);
    setResult(res);
    onErrorLine(res.error && res.error.line ? res.error : null);
  });
  const r = result;
  return html`<section class="panel run" aria-labelledby="run-title">
    <h2 id="run-title">Run once</h2>
    <p class="muted">Runs the script above on the server with the solution's services and limits, without deploying it.</p>
    <div class="row">
      <${Field} label="Request path" value=${reqPath} onInput=${setReqPath} name="run-path" />
      <${Field} label="Query" value=${query} onInput=${setQuery} placeholder="a=1&b=2" name="run-query" />
    </div>
    <div class="row">
      <${Field} label="Headers (Name: value, one a line)" type="textarea" value=${headers} onInput=${setHeaders} name="run-headers" />
      <${Field} label="Body (JSON, or text)" type="textarea" value=${body} onInput=${setBody} name="run-body" />
    </div>
    <button type="button" class="primary" onClick=${run.run} disabled=${run.busy}>Run</button>
    <${ErrorBox} error=${run.error} />
    ${r
      ? html`<div class="result">
          <div class="stats">
            <span>status <b class="run-status">${r.response ? r.response.status : '—'}</b></span>
            <span>time <b class="run-time">${fmtMs(r.duration_ms)}</b></span>
            <span>memory <b class="run-memory">${fmtBytes(r.memory_bytes)}</b></span>
            <span>request id <code>${r.request_id}</code></span>
          </div>
          ${r.error ? html`<div class="error" role="alert">${r.error.message}${r.error.line ? ` (line ${r.error.line})` : ''}</div>` : null}
          ${r.response
            ? html`<h3>Response</h3>
                <table class="headers"><tbody>
                  ${Object.entries(r.response.headers || {}).map(([k, v]) => html`<tr><th scope="row">${k}</th><td>${v}</td></tr>`)}
                </tbody></table>
                <pre class="run-body">${r.response.body_base64 ? `(${r.response.body_base64.length} bytes of binary, base64) ${r.response.body_base64}` : r.response.body}</pre>`
            : null}
          <h3>Logs</h3>
          ${r.logs.length === 0
            ? html`<p class="muted">Nothing logged.</p>`
            : html`<pre class="run-logs">${r.logs.map((l) => `${fmtTime(l.time)} ${l.level} ${l.message}${l.fields ? ' ' + JSON.stringify(l.fields) : ''}`).join('\n')}</pre>`}
        </div>`
      : null}
  </section>`;
}

function EndpointEditor({ sol, ep, onChanged, navigate, setNotice }) {
  const isNew = !ep.path;
  const [method, setMethod] = useState(ep.method || 'GET');
  const [path, setPath] = useState(ep.path || '/hello');
  const [script, setScript] = useState(isNew ? starter : '');
  const [loaded, setLoaded] = useState(isNew);
  const [runLine, setRunLine] = useState(null);
  const existing = useAsync(
    (signal) => (isNew ? Promise.resolve(null) : api.get(solutionPath(sol, 'endpoints', ep.method, ep.path), { signal })),
    [sol, ep.method, ep.path],
  );
  useEffect(() => {
    if (existing.data) {
      setScript(existing.data.script);
      setLoaded(true);
    }
  }, [existing.data]);
  if (existing.error) return html`<${ErrorBox} error=${existing.error} />`;
  if (!loaded) return html`<p>Loading…</p>`;
  const fields = html`<div class="row">
    <${Select} label="Method" value=${method} onInput=${setMethod} options=${methods.map((m) => [m, m])} />
    <${Field} label="Path" value=${path} onInput=${setPath} name="path" hint="/users/{id}, /files/{rest...}" />
  </div>`;
  return html`<${Workbench}
    title=${isNew ? 'New endpoint' : `${ep.method} ${ep.path}`}
    fields=${fields}
    script=${script}
    setScript=${(v) => {
      setRunLine(null);
      setScript(v);
    }}
    checkPath=${solutionPath(sol, 'check/endpoint')}
    deployPath=${solutionPath(sol, 'endpoints')}
    body=${{ method, path, script }}
    ready=${loaded}
    runLine=${runLine}
    deleteWhat=${isNew ? '' : `endpoint ${ep.method} ${ep.path}`}
    onDelete=${isNew
      ? null
      : async () => {
          await api.del(solutionPath(sol, 'endpoints', ep.method, ep.path));
          onChanged();
          navigate(href(route, { solution: sol }));
        }}
    onDeployed=${(saved) => {
      onChanged();
      setNotice(`Deployed ${saved.method} ${saved.path}, version ${saved.version}.`);
      if (isNew || saved.method !== ep.method || saved.path !== ep.path) navigate(href(route, { solution: sol }, { method: saved.method, path: saved.path }));
    }}
  >
    <${RunPanel} sol=${sol} method=${method} path=${path} script=${script} onErrorLine=${setRunLine} />
  <//>`;
}

function EndpointsPage({ params, query, navigate }) {
  const sol = params.solution;
  const list = useAsync((signal) => api.get(solutionPath(sol, 'endpoints'), { signal }), [sol]);
  const [notice, setNotice] = useState('');
  const chosen = query.new ? {} : query.method && query.path ? { method: query.method, path: query.path } : null;
  const items = (list.data?.items || []).map((e) => ({
    label: html`<span class="method">${e.method}</span> ${e.path}`,
    href: href(route, { solution: sol }, { method: e.method, path: e.path }),
    current: chosen && chosen.method === e.method && chosen.path === e.path,
  }));
  return html`<section>
    <h1>Endpoints</h1>
    <p class="muted">Each answers at <code>/apps/${sol}/…</code>${list.data?.items.length ? `; last deployed ${fmtTime(Math.max(...list.data.items.map((e) => Date.parse(e.updated_at))))}` : ''}.</p>
    <${ErrorBox} error=${list.error} />
    ${notice ? html`<p class="ok" role="status">${notice}</p>` : null}
    <div class="split">
      <${ItemList} label="Endpoints" items=${items} newHref=${href(route, { solution: sol }, { new: '1' })} newLabel="New endpoint" />
      <div>
        ${chosen
          ? html`<${EndpointEditor} key=${(chosen.method || '') + ' ' + (chosen.path || '')} sol=${sol} ep=${chosen} onChanged=${list.reload} navigate=${navigate} setNotice=${setNotice} />`
          : html`<p class="muted">Choose an endpoint, or create a new one.</p>`}
      </div>
    </div>
  </section>`;
}

register({ id: 'endpoints', title: 'Endpoints', route, order: 20, render: (ctx) => html`<${EndpointsPage} ...${ctx} />` });

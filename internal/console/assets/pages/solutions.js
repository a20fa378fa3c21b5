// Solutions: the list, creating one (its token shown once), and a solution's settings.
import { html, useState } from '../vendor/preact.js';
import { register, href } from '../registry.js';
import { api, solutionPath } from '../api.js';
import { storeToken } from '../session.js';
import { confirmAction, Copy, ErrorBox, Field, Select, fmtBytes, fmtTime, useAction, useAsync } from '../ui.js';

const MiB = 1 << 20;

// limitsForm holds a solution's limits as the form's text: "" leaves one to the server.
function limitsForm(l = {}) {
  return {
    timeout: l.timeout_ms ? String(l.timeout_ms) : '',
    memory: l.memory_bytes ? String(l.memory_bytes / MiB) : '',
    depth: l.call_depth ? String(l.call_depth) : '',
    steps: l.steps ? String(l.steps) : '',
  };
}

function limitsBody(f) {
  const n = (v) => (v.trim() === '' ? 0 : Number(v));
  return { timeout_ms: n(f.timeout), memory_bytes: Math.round(n(f.memory) * MiB), call_depth: n(f.depth), steps: n(f.steps) };
}

function LimitsFields({ form, set }) {
  const upd = (k) => (v) => set({ ...form, [k]: v });
  return html`<div class="row">
    <${Field} label="Timeout (ms)" type="number" min="0" value=${form.timeout} onInput=${upd('timeout')} placeholder="default" />
    <${Field} label="Memory (MiB)" type="number" min="0" step="any" value=${form.memory} onInput=${upd('memory')} placeholder="default" />
    <${Field} label="Call depth" type="number" min="0" value=${form.depth} onInput=${upd('depth')} placeholder="default" />
    <${Field} label="Steps" type="number" min="0" value=${form.steps} onInput=${upd('steps')} placeholder="default" />
  </div>`;
}

const limitText = (v, f) => (v ? f(v) : 'default');

function CreateSolution({ onCreated }) {
  const [id, setId] = useState('');
  const [limits, setLimits] = useState(limitsForm());
  const [debug, setDebug] = useState(false);
  const [invalid, setInvalid] = useState('reject');
  const { busy, error, run: submit } = useAction(async () => {
    const sol = await api.post('/api/v1/solutions', { id: id.trim(), limits: limitsBody(limits), debug, invalid_payload: invalid });
    setId('');
    setLimits(limitsForm());
    onCreated(sol);
  });
  return html`<form class="panel" onSubmit=${submit} aria-labelledby="create-solution">
    <h2 id="create-solution">Create a solution</h2>
    <${Field} label="Id" value=${id} onInput=${setId} required name="id" hint="lower-case letters, digits and dashes" />
    <${LimitsFields} form=${limits} set=${setLimits} />
    <div class="row">
      <${Field} label="Debug mode (callers also see a failed endpoint's message and line)" type="checkbox" value=${debug} onInput=${setDebug} />
      <${Select} label="Event data not matching its schema" value=${invalid} onInput=${setInvalid} options=${[['reject', 'reject'], ['mark', 'mark payloadvalid=false']]} />
    </div>
    <button type="submit" class="primary" disabled=${busy}>Create</button>
    <${ErrorBox} error=${error} />
  </form>`;
}

function TokenOnce({ sol, onDone }) {
  return html`<div class="token" role="status">
    <h2>Solution ${sol.id} created</h2>
    <p>Its token, shown only this once (the server keeps its hash alone):</p>
    <p><code class="mono" id="new-token">${sol.token}</code> <${Copy} text=${sol.token} label="Copy token" /></p>
    <p><a href=${href('/solutions/:solution', { solution: sol.id })}>Open ${sol.id}</a> · <button type="button" class="link" onClick=${onDone}>Hide the token</button></p>
  </div>`;
}

function SolutionsPage({ session }) {
  const list = useAsync((signal) => api.get('/api/v1/solutions', { signal }), []);
  const [created, setCreated] = useState(null);
  return html`<section>
    <h1>Solutions</h1>
    ${created ? html`<${TokenOnce} sol=${created} onDone=${() => setCreated(null)} />` : null}
    <${ErrorBox} error=${list.error} />
    ${list.data
      ? html`<table>
          <thead><tr><th scope="col">Id</th><th scope="col">Created</th><th scope="col">Timeout</th><th scope="col">Memory</th><th scope="col">Call depth</th><th scope="col">Steps</th><th scope="col">Debug</th></tr></thead>
          <tbody>
            ${list.data.items.length === 0 ? html`<tr><td colspan="7" class="muted">No solutions yet.</td></tr>` : null}
            ${list.data.items.map(
              (s) => html`<tr>
                <td><a href=${href('/solutions/:solution', { solution: s.id })}>${s.id}</a></td>
                <td>${fmtTime(s.created_at)}</td>
                <td>${limitText(s.limits.timeout_ms, (v) => v + ' ms')}</td>
                <td>${limitText(s.limits.memory_bytes, fmtBytes)}</td>
                <td>${limitText(s.limits.call_depth, String)}</td>
                <td>${limitText(s.limits.steps, String)}</td>
                <td>${s.debug ? 'on' : 'off'}</td>
              </tr>`,
            )}
          </tbody>
        </table>`
      : list.loading
        ? html`<p>Loading…</p>`
        : null}
    ${session.admin
      ? html`<${CreateSolution} onCreated=${(s) => {
          setCreated(s);
          list.reload();
        }} />`
      : html`<p class="muted">Creating solutions needs the admin token.</p>`}
  </section>`;
}

function SolutionSettings({ sol, admin, onSaved }) {
  const [limits, setLimits] = useState(limitsForm(sol.limits));
  const [debug, setDebug] = useState(sol.debug);
  const [invalid, setInvalid] = useState(sol.invalid_payload || 'reject');
  const [saved, setSaved] = useState(false);
  const { error, run: submit } = useAction(async () => {
    setSaved(false);
    await api.patch(solutionPath(sol.id), { limits: limitsBody(limits), debug, invalid_payload: invalid });
    setSaved(true);
    onSaved();
  });
  if (!admin) {
    return html`<dl class="kv">
      <dt>Timeout</dt><dd>${limitText(sol.limits.timeout_ms, (v) => v + ' ms')}</dd>
      <dt>Memory</dt><dd>${limitText(sol.limits.memory_bytes, fmtBytes)}</dd>
      <dt>Call depth</dt><dd>${limitText(sol.limits.call_depth, String)}</dd>
      <dt>Steps</dt><dd>${limitText(sol.limits.steps, String)}</dd>
      <dt>Debug</dt><dd>${sol.debug ? 'on' : 'off'}</dd>
      <dt>Invalid event data</dt><dd>${sol.invalid_payload}</dd>
    </dl>
    <p class="muted">Changing limits and settings needs the admin token.</p>`;
  }
  return html`<form onSubmit=${submit} aria-labelledby="settings">
    <h2 id="settings">Limits and settings</h2>
    <p class="muted">An empty limit, or 0, is the server's default (docs/limits.md).</p>
    <${LimitsFields} form=${limits} set=${setLimits} />
    <div class="row">
      <${Field} label="Debug mode" type="checkbox" value=${debug} onInput=${setDebug} />
      <${Select} label="Event data not matching its schema" value=${invalid} onInput=${setInvalid} options=${[['reject', 'reject'], ['mark', 'mark payloadvalid=false']]} />
    </div>
    <button type="submit" class="primary">Save</button>
    ${saved ? html` <span class="ok" role="status">Saved.</span>` : null}
    <${ErrorBox} error=${error} />
  </form>`;
}

// NewToken gives the solution a new token, after a confirmation: the old one stops working.
// Signed in with that very token, the console keeps working with the new one.
function NewToken({ id, session }) {
  const [token, setToken] = useState('');
  const { busy, error, run } = useAction(async () => {
    const yes = await confirmAction({
      title: `Give solution ${id} a new token?`,
      message: `Its current token stops working at once, for every program that uses it.`,
      confirmLabel: 'New token',
    });
    if (!yes) return;
    const out = await api.post(solutionPath(id, 'token'));
    if (!session.admin && session.solution === id) storeToken(out.token);
    setToken(out.token);
  });
  return html`<h2>Token</h2>
    <p>The solution's token was shown once, when it was created; the server keeps only its hash. A solution token may manage this solution's contents, and sees no other solution.</p>
    ${token
      ? html`<div class="token" role="status">
          <p>The new token, shown only this once; the old one no longer works:</p>
          <p><code class="mono" id="rotated-token">${token}</code> <${Copy} text=${token} label="Copy token" /></p>
          <p><button type="button" class="link" onClick=${() => setToken('')}>Hide the token</button></p>
        </div>`
      : html`<p><button type="button" onClick=${run} disabled=${busy}>New token</button></p>`}
    <${ErrorBox} error=${error} />`;
}

function SolutionPage({ params, session, navigate }) {
  const id = params.solution;
  const sol = useAsync((signal) => api.get(solutionPath(id), { signal }), [id]);
  const [error, setError] = useState(null);
  const remove = async () => {
    const yes = await confirmAction({
      title: `Delete solution ${id}?`,
      message: `Its endpoints, handlers, Keystore, services and everything else it owns are deleted. This cannot be undone.`,
      confirmLabel: 'Delete solution',
    });
    if (!yes) return;
    try {
      await api.del(solutionPath(id));
      navigate('#/solutions');
    } catch (err) {
      setError(err);
    }
  };
  return html`<section>
    <h1>Solution ${id}</h1>
    <${ErrorBox} error=${sol.error || error} />
    ${sol.data
      ? html`<p class="muted">Created ${fmtTime(sol.data.created_at)}. Its endpoints answer at <code>/apps/${id}/…</code>.</p>
          <${NewToken} id=${id} session=${session} />
          <${SolutionSettings} key=${sol.data.id + JSON.stringify(sol.data.limits) + sol.data.debug + sol.data.invalid_payload} sol=${sol.data} admin=${session.admin} onSaved=${sol.reload} />
          ${session.admin
            ? html`<h2>Danger zone</h2><button type="button" class="danger" onClick=${remove}>Delete solution</button>`
            : null}`
      : null}
  </section>`;
}

register({ id: 'solutions', title: 'Solutions', route: '/solutions', scope: 'global', order: 10, render: (ctx) => html`<${SolutionsPage} ...${ctx} />` });
register({ id: 'solution', title: 'Overview', route: '/solutions/:solution', order: 10, render: (ctx) => html`<${SolutionPage} ...${ctx} />` });

// The parts the endpoints and handlers pages share: a script checked by the API as it is
// edited (its syntax error marked at its line), deployed only once the check passes, and
// deleted after a confirmation.
import { html, useEffect, useRef, useState } from './vendor/preact.js';
import { api } from './api.js';
import { ScriptEditor } from './editor.js';
import { confirmAction, ErrorBox, useAction } from './ui.js';

// useCheck asks the API's check route about body a moment after it last changed, and keeps
// what it refused (null when it took it). check() asks at once and resolves to that.
export function useCheck(path, body, ready) {
  const [problem, setProblem] = useState(null);
  const seq = useRef(0);
  const check = async () => {
    const n = ++seq.current;
    try {
      await api.post(path, body);
      if (n === seq.current) setProblem(null);
      return null;
    } catch (err) {
      if (n === seq.current) setProblem(err);
      return err;
    }
  };
  const key = JSON.stringify(body);
  useEffect(() => {
    if (!ready) return undefined;
    const timer = setTimeout(check, 400);
    return () => clearTimeout(timer);
  }, [path, key, ready]);
  return { problem, check, setProblem };
}

// Workbench is a script's editor with its check, deploy and delete buttons; fields are the
// form's other inputs (method and path, or name and topics).
export function Workbench({ title, fields, script, setScript, checkPath, deployPath, body, ready, onDeployed, onDelete, deleteWhat, runLine, children }) {
  const { problem, check, setProblem } = useCheck(checkPath, body, ready);
  const [done, setDone] = useState('');
  const deploy = useAction(async () => {
    setDone('');
    const refused = await check();
    if (refused) return; // marked in the editor; nothing deployed
    const saved = await api.post(deployPath, body);
    setDone(`Deployed version ${saved.version}.`);
    onDeployed(saved);
  });
  const remove = useAction(async () => {
    if (!(await confirmAction({ title: `Delete ${deleteWhat}?`, message: `${deleteWhat} is deleted at once, on every instance. This cannot be undone.` }))) return;
    await onDelete();
  });
  const line = problem?.line || runLine?.line || 0;
  const diagnostics = line ? [{ line, message: problem?.line ? problem.message : runLine.message }] : [];
  return html`<form class="workbench" onSubmit=${deploy.run} aria-label=${title}>
    <h2>${title}</h2>
    ${fields}
    <div class="field">
      <span class="label" id="script-label">Script (Lua)</span>
      <${ScriptEditor} value=${script} onChange=${(v) => {
        setDone('');
        setProblem(null);
        setScript(v);
      }} diagnostics=${diagnostics} label="Script (Lua)" />
    </div>
    <div class="diag" aria-live="polite">
      ${problem
        ? html`<${ErrorBox} error=${problem} />`
        : ready
          ? html`<span class="ok check-ok">No errors found.</span>`
          : null}
    </div>
    <div class="toolbar">
      <button type="submit" class="primary" disabled=${deploy.busy}>Deploy</button>
      ${onDelete ? html`<button type="button" class="danger" onClick=${remove.run}>Delete</button>` : null}
      ${done ? html`<span class="ok" role="status">${done}</span>` : null}
    </div>
    <${ErrorBox} error=${deploy.error || remove.error} />
  </form>
  ${children}`;
}

// ItemList is the list of a solution's scripts beside the workbench.
export function ItemList({ label, items, newHref, newLabel }) {
  return html`<div>
    <p><a href=${newHref}>${newLabel}</a></p>
    <ul class="list" aria-label=${label}>
      ${items.length === 0 ? html`<li class="empty">None yet.</li>` : null}
      ${items.map((it) => html`<li><a href=${it.href} aria-current=${it.current ? 'true' : undefined}>${it.label}</a></li>`)}
    </ul>
  </div>`;
}

// Small shared pieces of the pages: error display, the confirm dialog, formatting, form fields.
// Everything is rendered as text: Preact escapes it, and nothing here sets HTML.
import { html, useEffect, useState } from './vendor/preact.js';

// ErrorBox shows an API error (or any error) with its status, field, line and message.
export function ErrorBox({ error }) {
  if (!error) return null;
  const where = [error.status ? `HTTP ${error.status}` : '', error.field ? `field ${error.field}` : '', error.line ? `line ${error.line}` : '']
    .filter(Boolean)
    .join(', ');
  return html`<div class="error" role="alert">
    <strong>${error.message}</strong>${where ? html` <span class="where">(${where})</span>` : null}
    ${error.detail && error.detail !== error.message ? html`<div>${error.detail}</div>` : null}
    ${error.errorId ? html`<div>error id <code>${error.errorId}</code></div>` : null}
  </div>`;
}

// confirmAction asks before something that destroys; it resolves true only on the explicit
// button. The dialog is built with DOM text nodes, never HTML.
export function confirmAction({ title, message, confirmLabel = 'Delete' }) {
  return new Promise((resolve) => {
    const d = document.createElement('dialog');
    d.className = 'confirm';
    d.setAttribute('aria-labelledby', 'confirm-title');
    const h = document.createElement('h2');
    h.id = 'confirm-title';
    h.textContent = title;
    const p = document.createElement('p');
    p.textContent = message;
    const row = document.createElement('div');
    row.className = 'row';
    const cancel = document.createElement('button');
    cancel.type = 'button';
    cancel.textContent = 'Cancel';
    const ok = document.createElement('button');
    ok.type = 'button';
    ok.className = 'danger';
    ok.textContent = confirmLabel;
    row.append(cancel, ok);
    d.append(h, p, row);
    let answered = false;
    const done = (v) => {
      if (answered) return;
      answered = true;
      d.close();
      d.remove();
      resolve(v);
    };
    cancel.addEventListener('click', () => done(false));
    ok.addEventListener('click', () => done(true));
    d.addEventListener('close', () => done(false));
    document.body.append(d);
    d.showModal();
    cancel.focus();
  });
}

// useAsync loads what load() returns, again whenever deps change; reload() loads it anew.
export function useAsync(load, deps) {
  const [state, setState] = useState({ loading: true, data: null, error: null });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const ctl = new AbortController();
    setState((s) => ({ ...s, loading: true, error: null }));
    load(ctl.signal).then(
      (data) => !ctl.signal.aborted && setState({ loading: false, data, error: null }),
      (error) => !ctl.signal.aborted && error.name !== 'AbortError' && setState({ loading: false, data: null, error }),
    );
    return () => ctl.abort();
  }, [...deps, tick]);
  return { ...state, reload: () => setTick((t) => t + 1) };
}

let fieldIds = 0;

// Field is a labelled input; extra props go to the input.
export function Field({ label, hint, type = 'text', value, onInput, ...rest }) {
  const [id] = useState(() => 'f' + ++fieldIds);
  const input =
    type === 'textarea'
      ? html`<textarea id=${id} value=${value} onInput=${(e) => onInput(e.target.value)} ...${rest}></textarea>`
      : type === 'checkbox'
        ? html`<input id=${id} type="checkbox" checked=${value} onChange=${(e) => onInput(e.target.checked)} ...${rest} />`
        : html`<input id=${id} type=${type} value=${value} onInput=${(e) => onInput(e.target.value)} ...${rest} />`;
  return html`<div class=${'field' + (type === 'checkbox' ? ' check' : '')}>
    <label for=${id}>${label}</label>${input}${hint ? html`<small>${hint}</small>` : null}
  </div>`;
}

// Select is a labelled select of [value, label] options.
export function Select({ label, value, onInput, options }) {
  const [id] = useState(() => 'f' + ++fieldIds);
  return html`<div class="field">
    <label for=${id}>${label}</label>
    <select id=${id} value=${value} onChange=${(e) => onInput(e.target.value)}>
      ${options.map(([v, l]) => html`<option value=${v}>${l}</option>`)}
    </select>
  </div>`;
}

export function fmtBytes(n) {
  if (!n) return '0 B';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return (Number.isInteger(n) ? n : n.toFixed(1)) + ' ' + units[i];
}

export function fmtMs(ms) {
  if (ms === undefined || ms === null) return '';
  return ms < 1 ? ms.toFixed(3) + ' ms' : ms < 1000 ? ms.toFixed(1) + ' ms' : (ms / 1000).toFixed(2) + ' s';
}

export function fmtTime(t) {
  if (!t) return '';
  const d = new Date(t);
  return isNaN(d) ? String(t) : d.toISOString().replace('T', ' ').replace('Z', '');
}

// Copy is a button that copies text to the clipboard.
export function Copy({ text, label = 'Copy' }) {
  const [done, setDone] = useState(false);
  return html`<button type="button" onClick=${() => navigator.clipboard?.writeText(text).then(() => setDone(true))}>
    ${done ? 'Copied' : label}
  </button>`;
}

// useAction runs an async action from a form or a button, keeping whether it runs and its
// error; a form's submit event is prevented first.
export function useAction(action) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const run = async (e) => {
    if (e && e.preventDefault) e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      return await action();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, run, setError };
}

// usePages keeps where a list read a page at a time is: cursor is this page's (first for the
// first page); next(c) goes on to the page at cursor c, prev() back one, reset() to the first.
export function usePages(first = '') {
  const [stack, setStack] = useState([]);
  const [cursor, setCursor] = useState(first);
  return {
    cursor,
    hasPrev: stack.length > 0,
    next: (c) => {
      setStack([...stack, cursor]);
      setCursor(c);
    },
    prev: () => {
      setCursor(stack[stack.length - 1]);
      setStack(stack.slice(0, -1));
    },
    reset: () => {
      setStack([]);
      setCursor(first);
    },
  };
}

// Pager is the previous and next page buttons of usePages; nextCursor is the next page's
// cursor, empty on the last page.
export function Pager({ pages, nextCursor }) {
  return html`<div class="toolbar">
    <button type="button" disabled=${!pages.hasPrev} onClick=${pages.prev}>Previous page</button>
    <button type="button" disabled=${!nextCursor} onClick=${() => pages.next(nextCursor)}>Next page</button>
  </div>`;
}

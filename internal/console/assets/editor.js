// ScriptEditor is CodeMirror 6 with Lua highlighting, as a Preact component. Diagnostics
// ({line, message}) are marked at their line, in the gutter and under the line's text.
import { html, useEffect, useRef } from './vendor/preact.js';
import {
  EditorView, EditorState, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter, drawSelection,
  StreamLanguage, syntaxHighlighting, defaultHighlightStyle, bracketMatching, indentOnInput,
  defaultKeymap, history, historyKeymap, indentWithTab, lintGutter, setDiagnostics, lua,
} from './vendor/codemirror.js';

// nonce lets CodeMirror's style element past the page's CSP (see internal/console).
const nonce = document.querySelector('meta[name=style-nonce]')?.content || '';

export function ScriptEditor({ value, onChange, diagnostics = [], label = 'Script' }) {
  const host = useRef(null);
  const view = useRef(null);
  const changed = useRef(onChange);
  changed.current = onChange;

  useEffect(() => {
    const v = new EditorView({
      parent: host.current,
      state: EditorState.create({
        doc: value,
        extensions: [
          EditorView.cspNonce.of(nonce),
          lineNumbers(),
          highlightActiveLineGutter(),
          history(),
          drawSelection(),
          indentOnInput(),
          bracketMatching(),
          highlightActiveLine(),
          syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
          StreamLanguage.define(lua),
          lintGutter(),
          keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]),
          EditorView.contentAttributes.of({ 'aria-label': label }),
          EditorView.updateListener.of((u) => {
            if (u.docChanged) changed.current(u.state.doc.toString());
          }),
        ],
      }),
    });
    view.current = v;
    return () => v.destroy();
  }, []);

  // A value from outside (another script opened) replaces the text.
  useEffect(() => {
    const v = view.current;
    if (v && v.state.doc.toString() !== value) {
      v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: value } });
    }
  }, [value]);

  useEffect(() => {
    const v = view.current;
    if (!v) return;
    const doc = v.state.doc;
    const diags = diagnostics
      .filter((d) => d.line >= 1)
      .map((d) => {
        const line = doc.line(Math.min(d.line, doc.lines));
        return { from: line.from, to: line.to, severity: 'error', message: d.message };
      });
    v.dispatch(setDiagnostics(v.state, diags));
  }, [diagnostics, value]);

  return html`<div class="editor" ref=${host}></div>`;
}

// CodeMirror 6 with Lua highlighting and line-marked diagnostics, as one ES module.
export { EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter, drawSelection } from '@codemirror/view';
export { EditorState } from '@codemirror/state';
export { StreamLanguage, syntaxHighlighting, defaultHighlightStyle, bracketMatching, indentOnInput } from '@codemirror/language';
export { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
export { linter, lintGutter, setDiagnostics, forceLinting } from '@codemirror/lint';
export { lua } from '@codemirror/legacy-modes/mode/lua';

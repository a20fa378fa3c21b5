package orchestrator

import (
	"cmp"
	"slices"
	"strings"
)

// redactMark replaces a security value in what the orchestrator logs or reports.
const redactMark = "(secret)"

// redactor takes an instance's security values out of text: a service may write one into a
// message or an error, by mistake or not; the log never shows it.
type redactor struct{ r *strings.Replacer }

func newRedactor(secrets map[string]string) redactor {
	vals := make([]string, 0, len(secrets))
	for _, v := range secrets {
		if v != "" {
			vals = append(vals, v)
		}
	}
	if len(vals) == 0 {
		return redactor{}
	}
	// Longest first, so a value containing another is replaced whole.
	slices.SortFunc(vals, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	pairs := make([]string, 0, 2*len(vals))
	for _, v := range vals {
		pairs = append(pairs, v, redactMark)
	}
	return redactor{strings.NewReplacer(pairs...)}
}

func (r redactor) text(s string) string {
	if r.r == nil {
		return s
	}
	return r.r.Replace(s)
}

// fields is a copy of f with every string in it redacted (keys too).
func (r redactor) fields(f map[string]any) map[string]any {
	if r.r == nil || f == nil {
		return f
	}
	return r.value(f).(map[string]any)
}

func (r redactor) value(v any) any {
	switch x := v.(type) {
	case string:
		return r.text(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = r.value(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[r.text(k)] = r.value(e)
		}
		return out
	}
	return v
}

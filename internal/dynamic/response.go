package dynamic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/switchboardhq/switchboard/internal/script"
	"github.com/switchboardhq/switchboard/internal/service"
)

// errTooLarge is a response body over the size limit.
var errTooLarge = errors.New("response too large")

// maxMessage bounds the error message taken from a service's error response.
const maxMessage = 1024

// read reads the body of resp, refusing one over the size limit. For a script run (a
// script.AnswerBudget in ctx) it also stops past the run's limit (an error wrapping
// script.ErrAnswerTooLarge) and draws every buffer from the budget before allocating it.
func (iv *Invoker) read(ctx context.Context, resp *http.Response) ([]byte, error) {
	budget := script.AnswerBudgetOf(ctx)
	limit, tooLarge := iv.maxResponse, errTooLarge
	if budget != nil && budget.Limit() < limit {
		limit, tooLarge = budget.Limit(), fmt.Errorf("over %d bytes: %w", budget.Limit(), script.ErrAnswerTooLarge)
	}
	if resp.ContentLength > limit {
		return nil, tooLarge
	}
	var out []byte
	if resp.ContentLength >= 0 {
		// One byte more than announced tells an answer longer than it said.
		if err := budget.Take(resp.ContentLength + 1); err != nil {
			return nil, err
		}
		out = make([]byte, 0, resp.ContentLength+1)
	}
	for {
		if len(out) == cap(out) {
			if int64(cap(out)) > limit {
				return nil, tooLarge
			}
			// Doubling, as a growing buffer does, but drawn before it is allocated.
			grow := min(max(int64(readChunk), int64(cap(out))), limit+1-int64(cap(out)))
			if err := budget.Take(grow); err != nil {
				return nil, err
			}
			nb := make([]byte, len(out), int64(cap(out))+grow)
			copy(nb, out)
			out = nb
		}
		n, err := resp.Body.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if int64(len(out)) > limit {
			return nil, tooLarge
		}
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// readChunk is the first buffer of an answer of unknown length.
const readChunk = 64 << 10

// result is the outcome of a response: for a 2xx its JSON body undecoded (a script.Body), its
// text or nil; else the service's error.
func (c *call) result(resp *http.Response, data []byte) (any, outcome, error) {
	code := resp.StatusCode
	isJSON := jsonType(resp.Header.Get("Content-Type"))
	switch {
	case code >= 200 && code < 300:
		if len(data) == 0 {
			return nil, success, nil
		}
		if !isJSON {
			return string(data), success, nil
		}
		if !json.Valid(data) {
			var v any
			err := json.Unmarshal(data, &v) // only to say where and why
			return nil, failure, c.errorf(502, "service %s answered invalid JSON: %v", c.d.Name, err)
		}
		// Left undecoded: the calling run decodes it charged to its memory limit (a JSON
		// answer of a few MiB can be hundreds of MiB of values).
		return script.Body{Data: string(data), JSON: true}, success, nil
	case code >= 400 && code < 600:
		out := success
		if code >= 500 {
			out = failure
		}
		return nil, out, &service.Error{Status: code, Message: message(code, data, isJSON)}
	}
	return nil, failure, c.errorf(502, "service %s answered with unexpected status %d", c.d.Name, code)
}

// message is the error message of a service's error response: the "error" or "message" of a
// JSON object, else the body's text, else the status text.
func message(code int, data []byte, isJSON bool) string {
	if isJSON || (len(data) > 0 && data[0] == '{') {
		var m map[string]any
		if json.Unmarshal(data, &m) == nil {
			for _, k := range []string{"error", "message"} {
				if s, ok := m[k].(string); ok && s != "" {
					return clip(s)
				}
			}
			if e, ok := m["error"].(map[string]any); ok {
				if s, ok := e["message"].(string); ok && s != "" {
					return clip(s)
				}
			}
		}
	}
	if s := strings.TrimSpace(string(data)); s != "" && utf8.ValidString(s) {
		return clip(s)
	}
	return http.StatusText(code)
}

// clip bounds s to maxMessage bytes, on a rune boundary.
func clip(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	i := maxMessage
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// jsonType reports whether a Content-Type is JSON: application/json or any +json type.
func jsonType(ct string) bool {
	if ct == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

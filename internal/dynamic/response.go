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

// read reads the body of resp, refusing one over the size limit, or over what the script
// run making the call may hold (an error wrapping script.ErrAnswerTooLarge).
func (iv *Invoker) read(ctx context.Context, resp *http.Response) ([]byte, error) {
	limit, tooLarge := iv.maxResponse, errTooLarge
	if n, ok := script.AnswerLimit(ctx); ok && n < limit {
		limit, tooLarge = n, fmt.Errorf("over %d bytes: %w", n, script.ErrAnswerTooLarge)
	}
	if resp.ContentLength > limit {
		return nil, tooLarge
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, tooLarge
	}
	return data, nil
}

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

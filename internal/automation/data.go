package automation

import (
	"encoding/base64"
	"encoding/json"
	"unicode/utf8"
)

// Content types of an invocation's payload as its event carries it.
const (
	contentJSON   = "application/json"
	contentText   = "text/plain"
	contentBinary = "application/octet-stream"
)

// eventData is what the handlers of an invocation see as event.data: the payload's JSON
// when it is JSON (Kaa's automations send JSON, as email-notification's does), its text when
// it is UTF-8, else its bytes in base64 (event.datacontenttype says which); nil for a null
// payload.
func eventData(payload *[]byte) (any, string) {
	if payload == nil {
		return nil, ""
	}
	p := *payload
	switch {
	case len(p) > 0 && json.Valid(p):
		return json.RawMessage(p), contentJSON
	case utf8.Valid(p):
		return string(p), contentText
	default:
		return base64.StdEncoding.EncodeToString(p), contentBinary
	}
}

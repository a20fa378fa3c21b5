package api

import (
	"net/http"

	"github.com/switchboardhq/switchboard/internal/admission"
)

// decodedValueBytes is what one JSON value (an object key counted as one) takes once decoded
// into Go values (any): an empty object ~70 bytes, an object with one key ~360 for its three,
// a number ~25 (measured with encoding/json on Go 1.26). It errs high.
const decodedValueBytes = 128

// decodedBytes estimates the memory data, valid JSON, takes decoded into Go values: its
// values at decodedValueBytes each, plus the text of its strings (copied). It reads data once
// and allocates nothing.
func decodedBytes(data []byte) int64 {
	var n, text int64
	for i := 0; i < len(data); i++ {
		switch c := data[i]; c {
		case ' ', '\t', '\r', '\n', ',', ':', ']', '}':
		case '"':
			n++
			start := i
			for i++; i < len(data) && data[i] != '"'; i++ {
				if data[i] == '\\' {
					i++
				}
			}
			text += int64(i - start - 1)
		case '{', '[':
			n++
		default: // a number, true, false or null: count it, skip the rest of it
			n++
			for i+1 < len(data) && !delimiter(data[i+1]) {
				i++
			}
		}
	}
	return n*decodedValueBytes + text
}

func delimiter(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', ',', ':', ']', '}':
		return true
	}
	return false
}

// reserveDecoded holds the estimated decoded size of body (valid JSON) on ticket before it is
// decoded, so the admission bounds on body bytes also bound the Go values made of them. A body
// whose decoded form could never fit the solution's bound is 413; one that does not fit now is
// the gate's 429 or 503. A nil ticket bounds nothing.
func (s *Server) reserveDecoded(ticket *admission.Ticket, body []byte) *Error {
	if ticket == nil || s.opt.Gate == nil {
		return nil
	}
	n := decodedBytes(body)
	if lim := s.opt.Gate.Limits().BytesPerSolution; n+int64(len(body)) > lim {
		return errorf(http.StatusRequestEntityTooLarge, "", "request body would take about %d bytes once decoded (at %d bytes a JSON value), over the %d bytes a solution may hold; send fewer values", n, decodedValueBytes, lim)
	}
	if err := ticket.Reserve(n); err != nil {
		return toAPIError(err)
	}
	return nil
}

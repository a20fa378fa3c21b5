package dynamic

import (
	"context"
	"encoding/hex"
	"math/rand/v2"
)

// traceKey is the context key of an incoming traceparent.
type traceKey struct{}

// WithTraceparent returns ctx carrying tp, the traceparent header of the request that led to
// the call. A call made with it continues tp's trace: its own traceparent keeps tp's trace id
// (when tp is valid) under a fresh span id.
func WithTraceparent(ctx context.Context, tp string) context.Context {
	return context.WithValue(ctx, traceKey{}, tp)
}

// traceparent returns the traceparent of an outgoing call: version 00, the trace id of the
// context's traceparent or a fresh one, a fresh span id and the sampled flag.
func traceparent(ctx context.Context) string {
	var b [55]byte
	copy(b[:], "00-")
	if in, _ := ctx.Value(traceKey{}).(string); validTraceparent(in) {
		copy(b[3:35], in[3:35])
	} else {
		randomHex(b[3:35])
	}
	b[35] = '-'
	randomHex(b[36:52])
	copy(b[52:], "-01")
	return string(b[:])
}

// randomHex fills dst (of even length) with random lowercase hex, never all zeros.
func randomHex(dst []byte) {
	var raw [16]byte
	n := len(dst) / 2
	for {
		for i := 0; i < n; i += 8 {
			v := rand.Uint64()
			for j := 0; j < 8 && i+j < n; j++ {
				raw[i+j] = byte(v >> (8 * j))
			}
		}
		if !allZero(raw[:n]) {
			break
		}
	}
	hex.Encode(dst, raw[:n])
}

// validTraceparent reports whether tp is a W3C traceparent this package can continue:
// "vv-<32 hex trace id>-<16 hex parent id>-ff", lowercase, ids not all zeros, version not ff.
func validTraceparent(tp string) bool {
	if len(tp) < 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-' || (len(tp) > 55 && tp[55] != '-') {
		return false
	}
	if tp[:2] == "ff" || (tp[:2] == "00" && len(tp) != 55) {
		return false
	}
	for _, r := range [][2]int{{0, 2}, {3, 35}, {36, 52}, {53, 55}} {
		if !lowerHex(tp[r[0]:r[1]]) {
			return false
		}
	}
	return !zeros(tp[3:35]) && !zeros(tp[36:52])
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func zeros(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '0' {
			return false
		}
	}
	return true
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

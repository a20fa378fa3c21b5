// Package traceparent makes and checks W3C Trace Context traceparent values
// (https://www.w3.org/TR/trace-context/), so requests, events and service calls share a trace.
package traceparent

import (
	"encoding/hex"
	"math/rand/v2"
)

// Child returns a traceparent continuing parent: version 00, parent's trace id (when parent
// is Valid; else a fresh one), a fresh span id and the sampled flag.
func Child(parent string) string {
	var b [55]byte
	copy(b[:], "00-")
	if Valid(parent) {
		copy(b[3:35], parent[3:35])
	} else {
		RandomHex(b[3:35])
	}
	b[35] = '-'
	RandomHex(b[36:52])
	copy(b[52:], "-01")
	return string(b[:])
}

// New is a traceparent starting a new trace.
func New() string { return Child("") }

// RandomHex fills dst (of even length) with random lowercase hex, never all zeros.
func RandomHex(dst []byte) {
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

// Valid reports whether tp is a W3C traceparent that can be continued:
// "vv-<32 hex trace id>-<16 hex parent id>-ff", lowercase, ids not all zeros, version not ff.
func Valid(tp string) bool {
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

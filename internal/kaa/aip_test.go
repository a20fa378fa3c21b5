package kaa

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"
)

func bytesPtr(b []byte) *[]byte { return &b }

// TestEncodeWire: the encoding is Avro's binary form of the record and nothing else (no
// container header, no schema fingerprint), checked against bytes written out by hand from the
// Avro specification.
func TestEncodeWire(t *testing.T) {
	for _, tc := range []struct {
		name string
		inv  Invocation
		want string
	}{
		// "c1" (len 2 → 04), 1000 (zigzag 2000 → d0 0f), 0, "t" (02 74), union 0 (null).
		{"null payload", Invocation{CorrelationID: "c1", Timestamp: 1000, TenantID: "t"}, "046331d00f00027400"},
		// timeout 60000 (zigzag 120000 → c0 a9 07), union 1 (02) then bytes "hi" (04 68 69).
		{"payload", Invocation{CorrelationID: "c1", Timestamp: 1000, Timeout: 60000, TenantID: "t", Payload: bytesPtr([]byte("hi"))}, "046331d00fc0a90702740204" + "6869"},
		// empty bytes are not null: union 1, length 0.
		{"empty payload", Invocation{CorrelationID: "c1", Timestamp: 1000, TenantID: "t", Payload: bytesPtr(nil)}, "046331d00f000274" + "0200"},
		// negative longs zigzag: -1 → 01.
		{"negative timestamp", Invocation{CorrelationID: "", Timestamp: -1, TenantID: ""}, "0001000000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Encode(tc.inv)
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(got) != tc.want {
				t.Fatalf("encoded %x, want %s", got, tc.want)
			}
			back, err := Decode(got)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if back.CorrelationID != tc.inv.CorrelationID || back.Timestamp != tc.inv.Timestamp || back.Timeout != tc.inv.Timeout || back.TenantID != tc.inv.TenantID ||
				(back.Payload == nil) != (tc.inv.Payload == nil) || (back.Payload != nil && !bytes.Equal(*back.Payload, *tc.inv.Payload)) {
				t.Fatalf("round trip: %+v, want %+v", back, tc.inv)
			}
		})
	}
}

// TestDecodeMalformed: what is not an AutomationInvocation is ErrMalformed (ErrTooLarge when
// it is over the bounds), never a panic nor an allocation its length prefix asks for; the
// correlation id is kept when it could be read.
func TestDecodeMalformed(t *testing.T) {
	good, _ := hex.DecodeString("046331d00f00027400")
	// A well-formed record whose payload is one byte over MaxPayloadBytes.
	bigPayload, _ := hex.DecodeString("046331d00f000274" + "02")
	bigPayload = binary.AppendVarint(bigPayload, MaxPayloadBytes+1) // Avro longs are zig-zag varints
	bigPayload = append(bigPayload, make([]byte, MaxPayloadBytes+1)...)
	for _, tc := range []struct {
		name, hex string
		data      []byte
		id        string
		want      error
	}{
		{name: "empty", hex: ""},
		{name: "truncated after the id", hex: "046331d00f", id: "c1"},
		{name: "a byte left over", data: append(append([]byte{}, good...), 0x00), id: "c1"},
		{name: "union index out of range", hex: "046331d00f00027406", id: "c1"},
		// a string length of 2^40: refused by the bound, not allocated.
		{name: "huge string length", hex: "8080808080808001"},
		{name: "negative string length", hex: "01"},
		{name: "huge payload length", hex: "046331d00f0002740280808080808001", id: "c1"},
		{name: "over the message bound", data: make([]byte, MaxMessageBytes+1), want: ErrTooLarge},
		{name: "payload over its bound", data: bigPayload, id: "c1", want: ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.data
			if data == nil {
				data, _ = hex.DecodeString(tc.hex)
			}
			inv, err := Decode(data)
			want := cmp.Or(tc.want, ErrMalformed)
			if !errors.Is(err, want) {
				t.Fatalf("Decode: %v, want %v", err, want)
			}
			if inv.CorrelationID != tc.id {
				t.Errorf("correlation id %q, want %q", inv.CorrelationID, tc.id)
			}
		})
	}
}

func TestEncodeBoundsPayload(t *testing.T) {
	if _, err := Encode(Invocation{Payload: bytesPtr(make([]byte, MaxPayloadBytes+1))}); err == nil || !strings.Contains(err.Error(), "payload") {
		t.Fatalf("Encode of a payload over the bound: %v", err)
	}
	if _, err := Encode(Invocation{Payload: bytesPtr(make([]byte, MaxPayloadBytes))}); err != nil {
		t.Fatalf("Encode of a payload at the bound: %v", err)
	}
}

func TestExpired(t *testing.T) {
	for _, tc := range []struct {
		ts, timeout, now int64
		want             bool
	}{
		{1000, 0, 1 << 50, false}, // 0: never
		{1000, 500, 1500, false},  // at the limit: not yet
		{1000, 500, 1501, true},
		{1000, -5, 1 << 50, false},                     // not a timeout
		{1000, math.MaxInt64, 1 << 50, false},          // a sum would overflow: still never
		{math.MaxInt64, math.MaxInt64, 1 << 50, false}, // from far in the future
	} {
		if got := (Invocation{Timestamp: tc.ts, Timeout: tc.timeout}).Expired(tc.now); got != tc.want {
			t.Errorf("timestamp %d timeout %d at %d: expired %v, want %v", tc.ts, tc.timeout, tc.now, got, tc.want)
		}
	}
}

// FuzzDecode: no input panics, and what decodes encodes back to the same bytes.
func FuzzDecode(f *testing.F) {
	for _, h := range []string{"046331d00f00027400", "046331d00fc0a9070274020468" + "69", "", "01"} {
		b, _ := hex.DecodeString(h)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		inv, err := Decode(data)
		if err != nil {
			return
		}
		again, err := Encode(inv)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if _, err := Decode(again); err != nil {
			t.Fatalf("decode of the re-encoding: %v", err)
		}
	})
}

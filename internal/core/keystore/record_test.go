package keystore

import (
	"slices"
	"testing"
)

func TestRecordRoundTrip(t *testing.T) {
	for _, items := range [][]string{nil, {""}, {"a"}, {"a", "", "ccc", string(make([]byte, 300))}} {
		v := encodeItems(typeList, items)
		got, err := decodeItems(v[1:])
		if err != nil || !slices.Equal(got, items) {
			t.Fatalf("decode(encode(%q)) = %q, %v", items, got, err)
		}
	}
	for _, bad := range [][]byte{{5, 'a'}, {0x80}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}} {
		if _, err := decodeItems(bad); err == nil {
			t.Fatalf("decodeItems(%v) accepted corrupt data", bad)
		}
	}
}

func TestKeyCodec(t *testing.T) {
	for _, k := range []string{"a", "../x", "a.b", "*", ">", "\x00\xff", "ключ"} {
		enc := encodeKey(k)
		for _, c := range enc {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				t.Fatalf("encodeKey(%q) = %q has %q", k, enc, c)
			}
		}
		if got, ok := decodeKey(enc); !ok || got != k {
			t.Fatalf("decodeKey(encodeKey(%q)) = %q, %v", k, got, ok)
		}
	}
}

func TestSetMembers(t *testing.T) {
	set, added := setAdd(nil, "b", "a", "b", "c")
	if added != 3 || !slices.Equal(set, []string{"a", "b", "c"}) {
		t.Fatalf("setAdd = %q, %d", set, added)
	}
	set, removed := setRemove(set, "b", "x")
	if removed != 1 || !slices.Equal(set, []string{"a", "c"}) {
		t.Fatalf("setRemove = %q, %d", set, removed)
	}
}

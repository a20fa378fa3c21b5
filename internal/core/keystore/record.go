package keystore

import (
	"encoding/binary"
	"errors"
	"slices"
)

// Value types. A stored value is one type byte followed by the type's payload; the expiry is not
// part of the value but a message header (see bucket.go), so the index can follow expiries from
// headers alone without transferring values.
const (
	typeString byte = 's'
	typeList   byte = 'l'
	typeSet    byte = 'e'
)

// typeName is what Redis' TYPE answers for a value type.
func typeName(t byte) string {
	switch t {
	case typeString:
		return "string"
	case typeList:
		return "list"
	case typeSet:
		return "set"
	}
	return "none"
}

var errCorrupt = errors.New("stored value is corrupt")

// encodeString is the stored form of a string value.
func encodeString(s string) []byte {
	out := make([]byte, 1+len(s))
	out[0] = typeString
	copy(out[1:], s)
	return out
}

// encodeItems is the stored form of a list or a set: each element as uvarint length + bytes.
// Sets are kept sorted and without duplicates by the code that builds them.
func encodeItems(t byte, items []string) []byte {
	n := 1
	for _, it := range items {
		n += uvarintLen(uint64(len(it))) + len(it)
	}
	out := make([]byte, 1, n)
	out[0] = t
	for _, it := range items {
		out = binary.AppendUvarint(out, uint64(len(it)))
		out = append(out, it...)
	}
	return out
}

// decodeItems parses a list or set payload (without the type byte).
func decodeItems(p []byte) ([]string, error) {
	var items []string
	for len(p) > 0 {
		l, n := binary.Uvarint(p)
		if n <= 0 || l > uint64(len(p)-n) {
			return nil, errCorrupt
		}
		p = p[n:]
		items = append(items, string(p[:l]))
		p = p[l:]
	}
	return items, nil
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// setAdd inserts members into the sorted set items and reports how many were new.
func setAdd(items []string, members ...string) ([]string, int) {
	added := 0
	for _, m := range members {
		i, found := slices.BinarySearch(items, m)
		if !found {
			items = slices.Insert(items, i, m)
			added++
		}
	}
	return items, added
}

// setRemove deletes members from the sorted set items and reports how many were there.
func setRemove(items []string, members ...string) ([]string, int) {
	removed := 0
	for _, m := range members {
		if i, found := slices.BinarySearch(items, m); found {
			items = slices.Delete(items, i, i+1)
			removed++
		}
	}
	return items, removed
}

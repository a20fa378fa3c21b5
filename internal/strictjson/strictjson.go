// Package strictjson finds what encoding/json lets through silently but a strict reader must
// refuse: an object holding the same key twice, where the last one quietly wins (so two
// readers of one body may disagree on what it says).
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// DuplicateKeyError is an object that holds Key twice; Path locates it ("limits.timeout_ms",
// "items[2].name", or just the key at the top level).
type DuplicateKeyError struct {
	Path string
}

func (e *DuplicateKeyError) Error() string { return "duplicate key " + strconv.Quote(e.Path) }

// CheckDuplicates reports the first key repeated within one object of data, at any depth, as a
// *DuplicateKeyError. Data that is not valid JSON is not its business: it returns nil and
// leaves the report to the decoder.
func CheckDuplicates(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // no float parsing: only the shape matters
	err := value(dec, "")
	var dup *DuplicateKeyError
	if errors.As(err, &dup) {
		return dup
	}
	return nil
}

// value reads one value at path, checking objects inside it.
func value(dec *json.Decoder, path string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]struct{}{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			k, _ := kt.(string)
			p := k
			if path != "" {
				p = path + "." + k
			}
			if _, dup := seen[k]; dup {
				return &DuplicateKeyError{Path: p}
			}
			seen[k] = struct{}{}
			if err := value(dec, p); err != nil {
				return err
			}
		}
		_, err = dec.Token() // '}'
		return err
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			if err := value(dec, path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
		_, err = dec.Token() // ']'
		return err
	}
	return nil
}

package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/switchboardhq/switchboard/internal/service"
)

// The Keystore of a solution over the API. Every route calls the Keystore service exactly as a
// script of the solution would (Keystore.get, set, delete, list, info and Redis commands), so
// keys, values, limits, quotas and expiry behave the same; see docs/keystore.md.

// keyView is one key as the API shows it.
type keyView struct {
	Key string `json:"key"`
	// Type is "string", "list" or "set".
	Type string `json:"type"`
	// Value is the string, or the list's elements in order, or the set's members in byte order.
	Value any `json:"value"`
	// TTL is the seconds left before the key expires (Redis' TTL, rounded); absent when the key
	// has no expiry.
	TTL *int64 `json:"ttl,omitempty"`
}

// keyPut is the body of PUT .../keystore/keys/{key}.
type keyPut struct {
	// Value is stored as the script's Keystore.set stores it: strings as they are, numbers as
	// their text, booleans as "true"/"false", objects and arrays as JSON.
	Value json.RawMessage `json:"value"`
	// TTL, in seconds, makes the key expire; without it the key has no expiry (set clears it).
	TTL *int64 `json:"ttl"`
}

// keystoreCall runs one Keystore operation for the solution in the path and returns its result
// table; a failure is the status and message a script would see.
func (s *Server) keystoreCall(r *http.Request, op string, args map[string]any) (map[string]any, error) {
	res, err := s.opt.Keystore.Call(r.Context(), r.PathValue("solution"), op, args)
	if err != nil {
		var se *service.Error
		if errors.As(err, &se) {
			return nil, &Error{Status: se.Status, Message: se.Message, Field: keystoreField(se.Message)}
		}
		return nil, err
	}
	m, _ := res.(map[string]any)
	return m, nil
}

// keystoreField names the request part a Keystore argument error is about
// ("keystore.set: value: required" → "value").
func keystoreField(msg string) string {
	_, rest, ok := strings.Cut(msg, ": ")
	if !ok || !strings.HasPrefix(msg, "keystore.") {
		return ""
	}
	arg, _, ok := strings.Cut(rest, ": ")
	switch {
	case !ok:
		return ""
	case arg == "key", arg == "value", arg == "match", arg == "cursor", arg == "count":
		return arg
	}
	return ""
}

// keystoreCommand runs a Redis command on key and returns its reply.
func (s *Server) keystoreCommand(r *http.Request, key, command string, args ...any) (any, error) {
	if args == nil {
		args = []any{}
	}
	res, err := s.keystoreCall(r, "command", map[string]any{"key": key, "command": command, "args": args})
	if err != nil {
		return nil, err
	}
	return res["value"], nil
}

func (s *Server) keystoreInfo(w http.ResponseWriter, r *http.Request, _ principal) {
	res, err := s.keystoreCall(r, "info", nil)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) keystoreList(w http.ResponseWriter, r *http.Request, _ principal) {
	q := r.URL.Query()
	args := map[string]any{}
	for _, name := range []string{"match", "cursor"} {
		if v := q.Get(name); v != "" {
			args[name] = v
		}
	}
	if v := q.Get("count"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			writeErr(w, errorf(http.StatusBadRequest, "count", "count: want an integer, got %q", v))
			return
		}
		args["count"] = n
	}
	res, err := s.keystoreCall(r, "list", args)
	if err != nil {
		writeErr(w, err)
		return
	}
	keys, _ := res["keys"].([]any)
	if keys == nil {
		keys = []any{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys, "cursor": res["cursor"]})
}

// keystoreKeyAttempts bounds how often reading a key starts over when its type changes
// between the commands that read it.
const keystoreKeyAttempts = 3

// readKey reads a key's type, value and expiry; ok is false when the key does not exist.
func (s *Server) readKey(r *http.Request, key string) (v keyView, ok bool, err error) {
	for attempt := 1; ; attempt++ {
		v, ok, err = s.readKeyOnce(r, key)
		var ae *Error
		if attempt < keystoreKeyAttempts && errors.As(err, &ae) && strings.HasPrefix(ae.Message, "WRONGTYPE") {
			continue // changed type in between: read again
		}
		return v, ok, err
	}
}

func (s *Server) readKeyOnce(r *http.Request, key string) (keyView, bool, error) {
	v := keyView{Key: key}
	typ, err := s.keystoreCommand(r, key, "type")
	if err != nil {
		return v, false, err
	}
	v.Type, _ = typ.(string)
	switch v.Type {
	case "none":
		return v, false, nil
	case "string":
		res, err := s.keystoreCall(r, "get", map[string]any{"key": key})
		if err != nil {
			return v, false, err
		}
		if res["value"] == nil {
			return v, false, nil // gone in between
		}
		v.Value = res["value"]
	case "list":
		v.Value, err = s.keystoreCommand(r, key, "lrange", 0, -1)
	case "set":
		v.Value, err = s.keystoreCommand(r, key, "smembers")
	}
	if err != nil {
		return v, false, err
	}
	if items, ok := v.Value.([]any); ok && len(items) == 0 {
		return v, false, nil // a list or set whose last element went: gone
	} else if v.Value == nil {
		v.Value = []any{}
	}
	ttl, err := s.keystoreCommand(r, key, "ttl")
	if err != nil {
		return v, false, err
	}
	if f, ok := ttl.(float64); ok && f >= 0 {
		n := int64(f)
		v.TTL = &n
	} else if ok && f == -2 {
		return v, false, nil // expired in between
	}
	return v, true, nil
}

func (s *Server) keystoreGet(w http.ResponseWriter, r *http.Request, _ principal) {
	key := r.PathValue("key")
	v, ok, err := s.readKey(r, key)
	switch {
	case err != nil:
		writeErr(w, err)
	case !ok:
		writeErr(w, errorf(http.StatusNotFound, "key", "no key %q in the keystore of solution %s", key, r.PathValue("solution")))
	default:
		writeJSON(w, http.StatusOK, v)
	}
}

func (s *Server) keystorePut(w http.ResponseWriter, r *http.Request, _ principal) {
	var body keyPut
	release, err := s.decode(w, r, &body)
	defer release()
	if err != nil {
		writeErr(w, err)
		return
	}
	if len(body.Value) == 0 || string(body.Value) == "null" {
		writeErr(w, errorf(http.StatusBadRequest, "value", "value: required (a string, number, boolean, object or array)"))
		return
	}
	value, err := scriptValue(body.Value)
	if err != nil {
		writeErr(w, errorf(http.StatusBadRequest, "value", "value: %v", err))
		return
	}
	key := r.PathValue("key")
	if body.TTL == nil {
		_, err = s.keystoreCall(r, "set", map[string]any{"key": key, "value": value})
	} else if *body.TTL < 1 {
		err = errorf(http.StatusBadRequest, "ttl", "ttl: want a number of seconds of at least 1, got %d", *body.TTL)
	} else {
		// Redis SET with EX: the value and its expiry in one write.
		_, err = s.keystoreCommand(r, key, "set", value, "EX", *body.TTL)
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	v, ok, err := s.readKey(r, key)
	switch {
	case err != nil:
		writeErr(w, err)
	case !ok: // expired or deleted already
		writeJSON(w, http.StatusOK, keyView{Key: key, Type: "none"})
	default:
		writeJSON(w, http.StatusOK, v)
	}
}

func (s *Server) keystoreDelete(w http.ResponseWriter, r *http.Request, _ principal) {
	res, err := s.keystoreCall(r, "delete", map[string]any{"key": r.PathValue("key")})
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"deleted": res["deleted"]})
}

// scriptValue turns a JSON value into the Go value a script's table converts to, keeping
// integers exact (a float64 would round those above 2^53).
func scriptValue(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return fromNumbers(v), nil
}

func fromNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = fromNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = fromNumbers(e)
		}
	}
	return v
}

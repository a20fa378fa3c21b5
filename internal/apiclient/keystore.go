package apiclient

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// KeystoreInfo is a solution's Keystore usage and quota
// (GET /api/v1/solutions/{solution}/keystore/info).
type KeystoreInfo struct {
	// Count is the number of live (unexpired) keys; Size the bytes they take.
	Count int64 `json:"count"`
	Size  int64 `json:"size"`
	Quota struct {
		// Keys is the most keys the solution may hold; ValueBytes the largest value.
		Keys       int64 `json:"keys"`
		ValueBytes int64 `json:"value_bytes"`
	} `json:"quota"`
}

// KeystoreKey is one key of a solution's Keystore.
type KeystoreKey struct {
	Key string `json:"key"`
	// Type is "string", "list" or "set" ("none" in the answer to a set whose key expired at once).
	Type string `json:"type"`
	// Value is a string for a string key and a []any of strings for a list or a set.
	Value any `json:"value"`
	// TTL is the seconds left before the key expires; nil when it has no expiry.
	TTL *int64 `json:"ttl,omitempty"`
}

// KeystorePage is one page of a key listing; Cursor is empty on the last page.
type KeystorePage struct {
	Keys   []string `json:"keys"`
	Cursor string   `json:"cursor"`
}

// KeystoreList lists a solution's keys in byte order, count at a time (0: the server's
// default of 100), matching the Redis glob match ("" matches all), starting after cursor (""
// for the first page).
func (c *Client) KeystoreList(ctx context.Context, solution, match, cursor string, count int) (KeystorePage, error) {
	var out struct {
		Keys   []string `json:"keys"`
		Cursor *string  `json:"cursor"`
	}
	p, err := solutionPath(solution, "keystore", "keys")
	if err != nil {
		return KeystorePage{}, err
	}
	q := url.Values{}
	if match != "" {
		q.Set("match", match)
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if count != 0 {
		q.Set("count", strconv.Itoa(count))
	}
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	if _, err := c.do(ctx, http.MethodGet, p, nil, &out); err != nil {
		return KeystorePage{}, err
	}
	page := KeystorePage{Keys: out.Keys}
	if page.Keys == nil {
		page.Keys = []string{}
	}
	if out.Cursor != nil {
		page.Cursor = *out.Cursor
	}
	return page, nil
}

// KeystoreInfo returns a solution's Keystore usage and quota.
func (c *Client) KeystoreInfo(ctx context.Context, solution string) (KeystoreInfo, error) {
	var out KeystoreInfo
	p, err := solutionPath(solution, "keystore", "info")
	if err != nil {
		return out, err
	}
	_, err = c.do(ctx, http.MethodGet, p, nil, &out)
	return out, err
}

// KeystoreGet returns one key; Status 404 when it does not exist.
func (c *Client) KeystoreGet(ctx context.Context, solution, key string) (KeystoreKey, error) {
	var out KeystoreKey
	p, err := keyPath(solution, key)
	if err != nil {
		return out, err
	}
	_, err = c.do(ctx, http.MethodGet, p, nil, &out)
	return out, err
}

// KeystoreSet sets key to value as a script's Keystore.set does (a string as it is, numbers,
// booleans and JSON objects and arrays as their text) and answers the key as stored. A ttl
// above 0, in seconds, makes the key expire; 0 stores it with no expiry.
func (c *Client) KeystoreSet(ctx context.Context, solution, key string, value any, ttl int64) (KeystoreKey, error) {
	var out KeystoreKey
	p, err := keyPath(solution, key)
	if err != nil {
		return out, err
	}
	body := struct {
		Value any    `json:"value"`
		TTL   *int64 `json:"ttl,omitempty"`
	}{Value: value}
	if ttl > 0 {
		body.TTL = &ttl
	}
	_, err = c.do(ctx, http.MethodPut, p, body, &out)
	return out, err
}

// KeystoreDelete deletes one key and reports whether it existed.
func (c *Client) KeystoreDelete(ctx context.Context, solution, key string) (bool, error) {
	var out struct {
		Deleted json.Number `json:"deleted"`
	}
	p, err := keyPath(solution, key)
	if err != nil {
		return false, err
	}
	if _, err := c.do(ctx, http.MethodDelete, p, nil, &out); err != nil {
		return false, err
	}
	return out.Deleted == "1", nil
}

// keyPath is /api/v1/solutions/{solution}/keystore/keys/{key}, the key escaped as one
// segment: a "/" in it is %2F, and "." and ".." are escaped too, as URLs drop such segments.
func keyPath(solution, key string) (string, error) {
	if key == "" {
		return "", errors.New("apiclient: empty key")
	}
	esc := url.PathEscape(key)
	if key == "." || key == ".." {
		esc = strings.ReplaceAll(key, ".", "%2E")
	}
	return solutionPath(solution, "keystore", "keys", esc)
}

package dynamic

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// benchServer answers every request with a trivial JSON object.
func benchServer(b *testing.B) string {
	return handlerServer(b, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"ok":true}`))
	}).URL
}

// BenchmarkCall is a call through the Invoker to a loopback service: argument mapping and
// validation, signature, breaker, request and JSON decoding.
func BenchmarkCall(b *testing.B) {
	d := describe(b, "mapper", mapperDoc, benchServer(b))
	iv := New(Options{})
	ctx := context.Background()
	args := map[string]any{"id": "item-1", "tags": []any{"a", "b"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := iv.Call(ctx, "sol1", d, testToken, "getItem", args, nil, "req"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDirect is the same request made with a plain http.Client on the same transport
// settings, for the Invoker's added cost.
func BenchmarkDirect(b *testing.B) {
	d := describe(b, "mapper", mapperDoc, benchServer(b))
	client := NewClient(nil)
	url := d.BaseURL.String() + "/items/item-1?limit=10&tags=a&tags=b"
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
		if err != nil {
			b.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var v any
		err = json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
}

package connector

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestRedisOut: a publish adds an entry to the stream, the data in the field named and each
// header in a field of its own; the answer's id is the entry's; maxlen caps the stream.
func TestRedisOut(t *testing.T) {
	e := newRedisEnv(t)
	ctx := context.Background()
	s := newSender(t, "redis", fmt.Sprintf(`{"url":%q,"stream":%q,"field":"payload","maxlen":3,"exact_maxlen":true}`, e.url, e.stream))
	r, err := send(t, s, Outgoing{Data: []byte(`{"level":3}`), Headers: map[string]string{"source": "sensor-7"}})
	if err != nil || r.ID == "" {
		t.Fatalf("publish: %+v, %v", r, err)
	}
	got, err := e.admin.XRange(ctx, e.stream, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != r.ID || got[0].Values["payload"] != `{"level":3}` || got[0].Values["source"] != "sensor-7" || len(got[0].Values) != 2 {
		t.Fatalf("stream %+v, receipt %+v", got, r)
	}
	for i := range 4 {
		if _, err := send(t, s, Outgoing{Data: fmt.Appendf(nil, "n%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := e.admin.XLen(ctx, e.stream).Result(); n != 3 {
		t.Fatalf("%d entries, want 3 (maxlen)", n)
	}
	// What an inbound connector reads of it: the data field, the rest as extensions.
	last, _ := e.admin.XRevRangeN(ctx, e.stream, "+", "-", 1).Result()
	if m := (&redisSource{cfg: redisConfig{Stream: e.stream, Field: "payload"}}).message(last[0]); string(m.Data) != "n3" {
		t.Fatalf("read back as an inbound connector reads it: %+v", m)
	}

	// Another stream by the publish's own argument; a header named as the data field is refused.
	other := e.stream + "-other"
	t.Cleanup(func() { e.admin.Del(context.Background(), other) })
	if _, err := send(t, s, Outgoing{To: other, Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if n, _ := e.admin.XLen(ctx, other).Result(); n != 1 {
		t.Fatalf("%d entries in the other stream", n)
	}
	_, err = send(t, s, Outgoing{Data: []byte("x"), Headers: map[string]string{"payload": "forged"}})
	var ae *ArgError
	if !errors.As(err, &ae) || ae.Arg != "headers.payload" {
		t.Fatalf("header named as the data field: %v", err)
	}
}

// TestRedisOutRefused: a key of another type is the server's refusal, not attempted again;
// a server that is not there is a failure that is, its password never shown.
func TestRedisOutRefused(t *testing.T) {
	e := newRedisEnv(t)
	if err := e.admin.Set(context.Background(), e.stream, "a string", 0).Err(); err != nil {
		t.Fatal(err)
	}
	_, err := send(t, newSender(t, "redis", fmt.Sprintf(`{"url":%q,"stream":%q}`, e.url, e.stream)), Outgoing{Data: []byte("x")})
	if err == nil || !isPermanent(err) || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Fatalf("a string key: %v", err)
	}
	_, err = send(t, newSender(t, "redis", `{"url":"redis://:hunter2@127.0.0.1:1/0","stream":"s"}`), Outgoing{Data: []byte("x")})
	if err == nil || isPermanent(err) || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("no server: %v", err)
	}
}

package hub_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// tailedEvent is what an event tail sends of each event.
type tailedEvent struct {
	ID    string          `json:"id"`
	Topic string          `json:"topic"`
	Data  json.RawMessage `json:"data"`
}

func tailEvents(t *testing.T, ctx context.Context, s *hubtest.Server, sol, token, query string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", s.URL+"/api/v1/solutions/"+sol+"/events?follow=1"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// nextTailed reads the next event of a tail; comments and ids are skipped.
func nextTailed(t *testing.T, sc *bufio.Scanner) tailedEvent {
	t.Helper()
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var e tailedEvent
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			t.Fatalf("event %q: %v", data, err)
		}
		return e
	}
	t.Fatalf("tail ended: %v", sc.Err())
	return tailedEvent{}
}

// TestTailEvents: a tail gets each event published after it connected, only those whose topic
// matches its pattern; only the solution's owner tails it; tails of one solution are bounded
// (429); stopping the server ends them.
func TestTailEvents(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	tok := createSolution(t, s, "shop", nil)
	otherTok := createSolution(t, s, "other", nil)
	for _, sol := range []struct{ id, tok string }{{"shop", tok}, {"other", otherTok}} {
		if r := s.Do(t, "POST", "/api/v1/solutions/"+sol.id+"/handlers", sol.tok, map[string]any{"name": "all", "topics": []string{">"}, "script": "return true"}); r.Status != http.StatusCreated {
			t.Fatalf("deploy handler: %d %s", r.Status, r.Body)
		}
	}
	publish := func(sol, token, id, topic string) {
		t.Helper()
		r := s.Do(t, "POST", "/api/v1/solutions/"+sol+"/events", token, map[string]any{"id": id, "topic": topic, "data": map[string]any{"id": id}})
		if r.Status != http.StatusAccepted {
			t.Fatalf("publish %s: %d %s", id, r.Status, r.Body)
		}
	}
	publish("shop", tok, "before", "orders.created")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	all := tailEvents(t, ctx, s, "shop", tok, "")
	orders := tailEvents(t, ctx, s, "shop", s.AdminToken, "&topic=orders.*")
	for _, r := range []*http.Response{all, orders} {
		if r.StatusCode != http.StatusOK || r.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("tail: %d %s", r.StatusCode, r.Header.Get("Content-Type"))
		}
	}
	publish("other", otherTok, "elsewhere", "orders.created") // another solution's: never tailed here
	publish("shop", tok, "u1", "users.created")
	publish("shop", tok, "o1", "orders.created")

	allSc, ordersSc := bufio.NewScanner(all.Body), bufio.NewScanner(orders.Body)
	for _, want := range []string{"u1", "o1"} {
		if e := nextTailed(t, allSc); e.ID != want {
			t.Fatalf("tail of every topic: event %+v, want %s (published after it connected, in order)", e, want)
		}
	}
	if e := nextTailed(t, ordersSc); e.ID != "o1" || e.Topic != "orders.created" || string(e.Data) != `{"id":"o1"}` {
		t.Fatalf("tail of orders.*: event %+v, want o1 (users.created is not of its topics)", e)
	}

	// Only the owner tails; bad queries are 400s naming the field.
	if r := s.Do(t, "GET", "/api/v1/solutions/shop/events?follow=1", otherTok, nil); r.Status != http.StatusForbidden {
		t.Errorf("another solution's token: %d %s, want 403", r.Status, r.Body)
	}
	for query, field := range map[string]string{"": "follow", "?follow=1&topic=orders.>.eu": "topic", "?follow=1&since=1h": "since"} {
		r := s.Do(t, "GET", "/api/v1/solutions/shop/events"+query, tok, nil)
		if r.Status != http.StatusBadRequest || r.Map(t)["field"] != field {
			t.Errorf("GET …/events%s: %d %s, want 400 naming %s", query, r.Status, r.Body, field)
		}
	}

	// Two more tails fill the solution's slots (4); a fifth is refused.
	for i := range 3 {
		r := tailEvents(t, ctx, s, "shop", tok, "")
		want := http.StatusOK
		if i == 2 {
			want = http.StatusTooManyRequests
		}
		if r.StatusCode != want {
			t.Fatalf("tail %d: %d, want %d", i+3, r.StatusCode, want)
		}
	}

	stopWhileStreaming(t, s, allSc)
}

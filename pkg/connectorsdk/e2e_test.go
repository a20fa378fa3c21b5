package connectorsdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/switchboardhq/switchboard/internal/hubtest"
	"github.com/switchboardhq/switchboard/pkg/connectorsdk"
)

// TestAgainstHub publishes through a real hub, sync and async, and checks that the handlers
// ran (a Keystore counter) and that every invocation's result reaches the receiver.
func TestAgainstHub(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	tok := s.CreateSolution(t, "shop")
	deploy := func(name, topic, script string) {
		t.Helper()
		r := s.Do(t, "POST", "/api/v1/solutions/shop/handlers", tok, map[string]any{"name": name, "topics": []string{topic}, "script": script})
		if r.Status != http.StatusCreated {
			t.Fatalf("deploy handler %s: %d %s", name, r.Status, r.Body)
		}
	}
	deploy("count", "orders.*", `Keystore.incrby({key = "count", args = {1}})
return {n = event.data.n, trace = event.extensions and event.extensions.trace, cid = event.correlation_id}`)
	deploy("echo", "orders.created", `return event.topic`)
	deploy("broken", "broken.now", `error("out of paper")`)
	count := func() string {
		r := s.Do(t, "GET", "/api/v1/solutions/shop/keystore/keys/count", tok, nil)
		if r.Status == http.StatusNotFound {
			return "0"
		}
		return fmt.Sprint(r.Map(t)["value"])
	}

	newCtl := func(async bool) (*connectorsdk.Controller, *collector) {
		return newController(t, connectorsdk.Config{HubURL: s.URL, Solution: "shop", Token: tok, Async: async})
	}

	t.Run("sync", func(t *testing.T) {
		c, col := newCtl(false)
		if err := c.Invoke(context.Background(), "orders.created", []byte(`{"n": 1}`),
			map[string]string{"trace": "t1", "correlationid": "c1"}); err != nil {
			t.Fatal(err)
		}
		r := col.next(t)
		if r.Err != nil || r.Status != http.StatusOK || len(r.Handlers) != 2 {
			t.Fatalf("result %+v (%v)", r, r.Err)
		}
		type seen struct {
			N     int    `json:"n"`
			Trace string `json:"trace"`
			CID   string `json:"cid"`
		}
		var got seen
		if err := json.Unmarshal(r.Handlers["count"], &got); err != nil || got != (seen{1, "t1", "c1"}) {
			t.Fatalf("count's result %s (%v)", r.Handlers["count"], err)
		}
		if string(r.Handlers["echo"]) != `"orders.created"` {
			t.Fatalf("echo's result %s", r.Handlers["echo"])
		}
		if n := count(); n != "1" {
			t.Fatalf("count %s after one sync event, want 1", n)
		}
		// One handler: its result by name too.
		if err := c.Invoke(context.Background(), "orders.deleted", []byte(`{"n": 2}`), nil); err != nil {
			t.Fatal(err)
		}
		if r := col.next(t); r.Err != nil || len(r.Handlers) != 1 || r.Handlers["count"] == nil {
			t.Fatalf("result %+v (%v)", r, r.Err)
		}
		// A failed handler is named.
		if err := c.Invoke(context.Background(), "broken.now", nil, nil); err != nil {
			t.Fatal(err)
		}
		var e *connectorsdk.Error
		if r := col.next(t); !errors.As(r.Err, &e) || e.Handler != "broken" || e.Topic != "broken.now" || e.ErrorID == "" {
			t.Fatalf("result %+v (%v), want handler broken's failure", r, r.Err)
		}
	})

	t.Run("async", func(t *testing.T) {
		before := count()
		c, col := newCtl(true)
		const n = 5
		for i := range n {
			if err := c.Invoke(context.Background(), "orders.updated", fmt.Appendf(nil, `{"n": %d}`, i), nil); err != nil {
				t.Fatal(err)
			}
		}
		ids := map[string]bool{}
		for range n {
			r := col.next(t)
			if r.Err != nil || r.Status != http.StatusAccepted || r.EventID == "" || !r.Async {
				t.Fatalf("result %+v (%v)", r, r.Err)
			}
			ids[r.EventID] = true
		}
		if len(ids) != n {
			t.Fatalf("event ids %v, want %d distinct", ids, n)
		}
		var b int
		if _, err := fmt.Sscan(before, &b); err != nil {
			t.Fatalf("count %q: %v", before, err)
		}
		want := fmt.Sprint(b + n)
		hubtest.Eventually(t, "the handler to count "+want, func() bool { return count() == want })
		for id := range ids {
			hubtest.Eventually(t, "event "+id+" to be delivered", func() bool {
				r := s.Do(t, "GET", "/api/v1/solutions/shop/events/"+id, tok, nil)
				return r.Status == http.StatusOK && stateOf(t, r) == "succeeded"
			})
		}
	})

	t.Run("no handler", func(t *testing.T) {
		for _, async := range []bool{false, true} {
			c, col := newCtl(async)
			if err := c.Invoke(context.Background(), "nobody.here", []byte(`{}`), nil); err != nil {
				t.Fatal(err)
			}
			r := col.next(t)
			if !errors.Is(r.Err, connectorsdk.ErrNoHandler) || r.Status != http.StatusNotFound {
				t.Fatalf("async %v: result %+v (%v), want ErrNoHandler", async, r, r.Err)
			}
		}
	})

	t.Run("wrong token", func(t *testing.T) {
		c, col := newController(t, connectorsdk.Config{HubURL: s.URL, Solution: "shop", Token: "nope"})
		if err := c.Invoke(context.Background(), "orders.created", nil, nil); err != nil {
			t.Fatal(err)
		}
		if r := col.next(t); r.Status != http.StatusUnauthorized || r.Err == nil {
			t.Fatalf("result %+v (%v), want 401", r, r.Err)
		}
	})
}

// stateOf is the state of the one handler in a delivery report.
func stateOf(t *testing.T, r hubtest.Response) string {
	var rep struct {
		Handlers []struct {
			State string `json:"state"`
		} `json:"handlers"`
	}
	r.JSON(t, &rep)
	if len(rep.Handlers) != 1 {
		return ""
	}
	return rep.Handlers[0].State
}

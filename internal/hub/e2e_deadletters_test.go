package hub_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// fastRetries makes a durable handler run twice, 10ms apart, before it is a dead letter.
func fastRetries(c *hub.Config) {
	c.EventMaxDeliver = 2
	c.EventRetryWait = 10 * time.Millisecond
}

// fixedHandler fails until the solution's Keystore holds fixed = "yes", then records the
// event it handled there.
const fixedHandler = `if Keystore.get({key = "fixed"}).value ~= "yes" then error("not fixed yet") end
Keystore.set({key = "handled_" .. event.id, value = event.data.n})
return true`

type deadLetterPage struct {
	Items []struct {
		Seq      uint64         `json:"seq"`
		Handler  string         `json:"handler"`
		Topic    string         `json:"topic"`
		EventID  string         `json:"event_id"`
		Error    string         `json:"error"`
		Attempts int            `json:"attempts"`
		Event    map[string]any `json:"event"`
	} `json:"items"`
	NextCursor string `json:"next_cursor"`
}

func listDeadLetters(t *testing.T, s *hubtest.Server, token, query string) deadLetterPage {
	t.Helper()
	r := s.Do(t, "GET", "/api/v1/solutions/demo/deadletters"+query, token, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("list dead letters%s: %d %s", query, r.Status, r.Body)
	}
	var p deadLetterPage
	r.JSON(t, &p)
	return p
}

// TestDeadLettersReplay: a handler that fails every attempt leaves a dead letter, listed by
// the API; once what it needs is there, a replay runs it and the dead letter is gone. Another
// solution's token reaches none of it.
func TestDeadLettersReplay(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t, fastRetries)
	token := createSolution(t, s, "demo", nil)
	otherToken := createSolution(t, s, "other", nil)
	svcAuth := s.AddService(t, "demo", "orders")
	if r := s.Do(t, "POST", "/api/v1/solutions/demo/handlers", token, map[string]any{"name": "orders_created", "script": fixedHandler}); r.Status != http.StatusCreated {
		t.Fatalf("deploy handler: %d %s", r.Status, r.Body)
	}
	trigger := func(id string, n int) {
		req, _ := http.NewRequest("POST", s.URL+"/api/v1/trigger/demo/orders/created?mode=async", strings.NewReader(fmt.Sprintf(`{"n":%d}`, n)))
		req.Header.Set("Authorization", svcAuth)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Event-Id", id)
		if r := s.Send(t, req); r.Status != http.StatusAccepted {
			t.Fatalf("trigger %s: %d %s", id, r.Status, r.Body)
		}
	}
	trigger("e1", 1)
	trigger("e2", 2)

	var page deadLetterPage
	hubtest.Eventually(t, "two dead letters", func() bool {
		page = listDeadLetters(t, s, token, "")
		return len(page.Items) == 2
	})
	// e1 and e2 run at once: either may be parked first.
	dl := page.Items[0]
	if dl.EventID != "e1" {
		dl = page.Items[1]
	}
	if dl.Handler != "orders_created" || dl.Topic != "orders.created" || dl.EventID != "e1" || dl.Attempts != 2 ||
		!strings.Contains(dl.Error, "not fixed yet") || dl.Event["data"].(map[string]any)["n"] != 1.0 {
		t.Fatalf("dead letter %+v", dl)
	}
	if p := listDeadLetters(t, s, token, "?topic=orders.created&handler=orders_created&since=1h&limit=1"); len(p.Items) != 1 || p.NextCursor == "" {
		t.Fatalf("first page of one: %+v", p)
	}
	if p := listDeadLetters(t, s, token, "?handler=nobody"); len(p.Items) != 0 {
		t.Fatalf("another handler's: %+v", p)
	}
	if r := s.Do(t, "GET", fmt.Sprintf("/api/v1/solutions/demo/deadletters/%d", dl.Seq), token, nil); r.Status != http.StatusOK || r.Map(t)["event_id"] != "e1" {
		t.Fatalf("show: %d %s", r.Status, r.Body)
	}

	// Another solution's token: 403 on every route; its own list does not show demo's.
	for _, rt := range []struct{ method, path, body string }{
		{"GET", "/api/v1/solutions/demo/deadletters", ""},
		{"GET", fmt.Sprintf("/api/v1/solutions/demo/deadletters/%d", dl.Seq), ""},
		{"POST", "/api/v1/solutions/demo/deadletters/replay", `{"all":true}`},
		{"DELETE", "/api/v1/solutions/demo/deadletters?all=true", ""},
		{"DELETE", fmt.Sprintf("/api/v1/solutions/demo/deadletters/%d", dl.Seq), ""},
	} {
		var body any
		if rt.body != "" {
			body = rt.body
		}
		wantAPIError(t, s.Do(t, rt.method, rt.path, otherToken, body), http.StatusForbidden, "solution")
	}
	if r := s.Do(t, "GET", fmt.Sprintf("/api/v1/solutions/other/deadletters/%d", dl.Seq), otherToken, nil); r.Status != http.StatusNotFound {
		t.Fatalf("demo's dead letter under other: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, "GET", "/api/v1/solutions/other/deadletters", otherToken, nil); r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"items":[]`) {
		t.Fatalf("other's dead letters: %d %s", r.Status, r.Body)
	}

	// Bad input names the field.
	for _, tc := range []struct{ method, path, body, field string }{
		{"GET", "/api/v1/solutions/demo/deadletters?limit=0", "", "limit"},
		{"GET", "/api/v1/solutions/demo/deadletters?since=yesterday", "", "since"},
		{"GET", "/api/v1/solutions/demo/deadletters?handler=a.b", "", "handler"},
		{"GET", "/api/v1/solutions/demo/deadletters?cursor=x", "", "cursor"},
		{"GET", "/api/v1/solutions/demo/deadletters?colour=red", "", "colour"},
		{"GET", "/api/v1/solutions/demo/deadletters/abc", "", "seq"},
		{"POST", "/api/v1/solutions/demo/deadletters/replay", `{}`, "all"},
		{"POST", "/api/v1/solutions/demo/deadletters/replay", `{"all":true,"handler":"x"}`, "all"},
		{"POST", "/api/v1/solutions/demo/deadletters/replay", `{"seq":1,"topic":"a.b"}`, "seq"},
		{"POST", "/api/v1/solutions/demo/deadletters/replay", `{"topic":"a.*"}`, "topic"},
		{"DELETE", "/api/v1/solutions/demo/deadletters", "", "all"},
		{"DELETE", "/api/v1/solutions/demo/deadletters?all=maybe", "", "all"},
	} {
		var body any
		if tc.body != "" {
			body = tc.body
		}
		wantAPIError(t, s.Do(t, tc.method, tc.path, token, body), http.StatusBadRequest, tc.field)
	}
	if r := s.Do(t, "POST", "/api/v1/solutions/demo/deadletters/replay", token, `{"seq":999999}`); r.Status != http.StatusNotFound {
		t.Fatalf("replay of no dead letter: %d %s", r.Status, r.Body)
	}

	// Fixed: replaying e1 runs it and removes its dead letter; e2 stays until replayed too.
	if r := s.Do(t, "PUT", "/api/v1/solutions/demo/keystore/keys/fixed", token, map[string]any{"value": "yes"}); r.Status != http.StatusOK && r.Status != http.StatusCreated {
		t.Fatalf("set fixed: %d %s", r.Status, r.Body)
	}
	r := s.Do(t, "POST", "/api/v1/solutions/demo/deadletters/replay", token, map[string]any{"seq": dl.Seq})
	if r.Status != http.StatusOK || r.Map(t)["replayed"] != 1.0 {
		t.Fatalf("replay e1: %d %s", r.Status, r.Body)
	}
	handled := func(id string) bool {
		return s.Do(t, "GET", "/api/v1/solutions/demo/keystore/keys/handled_"+id, token, nil).Status == http.StatusOK
	}
	hubtest.Eventually(t, "e1 to be handled", func() bool { return handled("e1") })
	if p := listDeadLetters(t, s, token, ""); len(p.Items) != 1 || p.Items[0].EventID != "e2" {
		t.Fatalf("after replaying e1: %+v", p)
	}
	if handled("e2") {
		t.Fatal("e2 handled without a replay")
	}
	r = s.Do(t, "POST", "/api/v1/solutions/demo/deadletters/replay", token, map[string]any{"all": true})
	if r.Status != http.StatusOK || r.Map(t)["replayed"] != 1.0 {
		t.Fatalf("replay all: %d %s", r.Status, r.Body)
	}
	hubtest.Eventually(t, "e2 to be handled", func() bool { return handled("e2") })
	if p := listDeadLetters(t, s, token, ""); len(p.Items) != 0 {
		t.Fatalf("after replaying all: %+v", p)
	}
}

// TestDeadLettersPurge: purging by filter, by seq and with all; deleting the solution takes its
// dead letters with it.
func TestDeadLettersPurge(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t, fastRetries)
	token := createSolution(t, s, "demo", nil)
	svcAuth := s.AddService(t, "demo", "orders")
	for _, name := range []string{"orders_created", "orders_paid"} {
		if r := s.Do(t, "POST", "/api/v1/solutions/demo/handlers", token, map[string]any{"name": name, "script": `error("down")`}); r.Status != http.StatusCreated {
			t.Fatalf("deploy %s: %d %s", name, r.Status, r.Body)
		}
	}
	for i, ev := range []string{"created", "created", "paid"} {
		req, _ := http.NewRequest("POST", s.URL+"/api/v1/trigger/demo/orders/"+ev+"?mode=async", strings.NewReader(`{}`))
		req.Header.Set("Authorization", svcAuth)
		req.Header.Set("X-Event-Id", fmt.Sprint("e", i))
		if r := s.Send(t, req); r.Status != http.StatusAccepted {
			t.Fatalf("trigger: %d %s", r.Status, r.Body)
		}
	}
	hubtest.Eventually(t, "three dead letters", func() bool { return len(listDeadLetters(t, s, token, "").Items) == 3 })
	if r := s.Do(t, "DELETE", "/api/v1/solutions/demo/deadletters?topic=orders.paid", token, nil); r.Status != http.StatusOK || r.Map(t)["purged"] != 1.0 {
		t.Fatalf("purge paid: %d %s", r.Status, r.Body)
	}
	p := listDeadLetters(t, s, token, "")
	if len(p.Items) != 2 || p.Items[0].Topic != "orders.created" {
		t.Fatalf("after purging paid: %+v", p)
	}
	path := fmt.Sprintf("/api/v1/solutions/demo/deadletters/%d", p.Items[0].Seq)
	if r := s.Do(t, "DELETE", path, token, nil); r.Status != http.StatusOK || r.Map(t)["purged"] != 1.0 {
		t.Fatalf("delete one: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, "DELETE", path, token, nil); r.Status != http.StatusNotFound {
		t.Fatalf("delete it again: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, "DELETE", "/api/v1/solutions/demo/deadletters?all=true", token, nil); r.Status != http.StatusOK || r.Map(t)["purged"] != 1.0 {
		t.Fatalf("purge all: %d %s", r.Status, r.Body)
	}

	// A dead letter left at deletion does not come back with a new solution of the same id.
	req, _ := http.NewRequest("POST", s.URL+"/api/v1/trigger/demo/orders/paid?mode=async", strings.NewReader(`{}`))
	req.Header.Set("Authorization", svcAuth)
	if r := s.Send(t, req); r.Status != http.StatusAccepted {
		t.Fatalf("trigger: %d %s", r.Status, r.Body)
	}
	hubtest.Eventually(t, "a dead letter", func() bool { return len(listDeadLetters(t, s, token, "").Items) == 1 })
	if r := s.Do(t, "DELETE", "/api/v1/solutions/demo", s.AdminToken, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete solution: %d %s", r.Status, r.Body)
	}
	token = createSolution(t, s, "demo", nil)
	if p := listDeadLetters(t, s, token, ""); len(p.Items) != 0 {
		t.Fatalf("the new demo has the old one's dead letters: %+v", p)
	}
}

package hub_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// worstBody is a JSON body just under the default 4 MiB limit whose tables would take about
// 160 MiB: an array of empty objects.
func worstBody() string {
	n := (4<<20 - 2) / 3
	return "[" + strings.Repeat("{},", n-1) + "{}]"
}

func post(t *testing.T, s *hubtest.Server, path, body string) hubtest.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := fetch(ctx, http.MethodPost, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	return r
}

// TestAppsBodyDecodedWhenRead: a script that reads the request but not its hostile 4 MiB
// body answers within a 1 MiB limit (the body is never decoded); one that reads the body
// stops at that limit (500), the server unharmed.
func TestAppsBodyDecodedWhenRead(t *testing.T) {
	s := hubtest.Start(t)
	createSolution(t, s, "bodies", map[string]any{"memory_bytes": 1 << 20})
	s.Deploy(t, "bodies", "POST", "/ignore", `return "ignored " .. request.method`)
	s.Deploy(t, "bodies", "POST", "/read", `return #request.body`)
	s.Deploy(t, "bodies", "POST", "/small", `return request.body.a`)
	body := worstBody()

	wantText(t, post(t, s, "/apps/bodies/ignore", body), "ignored POST")
	r := post(t, s, "/apps/bodies/read", body)
	if r.Status != http.StatusInternalServerError || !strings.Contains(string(r.Body), "memory limit") {
		t.Fatalf("reading the body: %d %s, want 500 naming the memory limit", r.Status, r.Body)
	}
	wantText(t, post(t, s, "/apps/bodies/small", `{"a":"b"}`), "b")
}

// TestAppsServerMemory: a run the engine's memory pool cannot serve (here: its 4 MiB body
// alone is more than the 2 MiB pool) answers 503 with Retry-After; the server goes on.
func TestAppsServerMemory(t *testing.T) {
	s := hubtest.Start(t, func(c *hub.Config) { c.RunsMemory = 2 << 20 })
	s.CreateSolution(t, "busy")
	s.CreateSolution(t, "other")
	s.Deploy(t, "busy", "POST", "/x", `return "ran"`)
	s.Deploy(t, "other", "POST", "/y", `return request.body.v`)

	r := post(t, s, "/apps/busy/x", worstBody())
	if r.Status != http.StatusServiceUnavailable {
		t.Fatalf("status %d %s, want 503", r.Status, r.Body)
	}
	if ra := r.Header.Get("Retry-After"); ra == "" {
		t.Errorf("503 without Retry-After")
	}
	if !strings.Contains(string(r.Body), "server memory limit") {
		t.Errorf("body %s does not name the server memory limit", r.Body)
	}
	wantText(t, post(t, s, "/apps/busy/x", `{}`), "ran")
	wantText(t, post(t, s, "/apps/other/y", `{"v":"fine"}`), "fine")
}

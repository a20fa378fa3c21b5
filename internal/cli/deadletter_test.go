package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

func TestDeadLetterUsage(t *testing.T) {
	_, url := newFakeAPI(t)
	env := clientEnv(t, url)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"deadletter", "list"}, "no solution given"},
		{[]string{"deadletter", "show", "-s", "demo"}, "missing SEQ"},
		{[]string{"deadletter", "show", "x", "-s", "demo"}, `SEQ "x"`},
		{[]string{"deadletter", "replay", "-s", "demo"}, "nothing selected"},
		{[]string{"deadletter", "purge", "-s", "demo"}, "nothing selected"},
		{[]string{"deadletter", "replay", "1", "--all", "-s", "demo"}, "SEQ names one dead letter"},
		{[]string{"deadletter", "purge", "--all", "--handler", "h", "-s", "demo"}, "--all selects every"},
		{[]string{"deadletter", "replay", "1", "2", "-s", "demo"}, "at most one SEQ"},
	} {
		runCLI(t, env, "", tc.args...).check(t, ExitUsage, nil, []string{tc.want})
	}
}

// TestDeadLetterAgainstServer: a handler failing every attempt leaves a dead letter that
// deadletter list and show print; once fixed, deadletter replay runs it and it is gone.
func TestDeadLetterAgainstServer(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t, func(c *hub.Config) {
		c.EventMaxDeliver = 1
		c.EventRetryWait = 10 * time.Millisecond
	})
	token := s.CreateSolution(t, "demo")
	svcAuth := s.AddService(t, "demo", "orders")
	env := map[string]string{"SWITCHBOARD_SERVER": s.URL, "SWITCHBOARD_TOKEN": token, "SWITCHBOARD_DATA": t.TempDir()}
	deploy := func(script string) {
		if r := s.Do(t, "POST", "/api/v1/solutions/demo/handlers", token, map[string]any{"name": "orders_created", "script": script}); r.Status >= 300 {
			t.Fatalf("deploy: %d %s", r.Status, r.Body)
		}
	}
	deploy(`error("warehouse down")`)
	req, _ := http.NewRequest("POST", s.URL+"/api/v1/trigger/demo/orders/created?mode=async", strings.NewReader(`{"n":7}`))
	req.Header.Set("Authorization", svcAuth)
	req.Header.Set("X-Event-Id", "order-7")
	if r := s.Send(t, req); r.Status != http.StatusAccepted {
		t.Fatalf("trigger: %d %s", r.Status, r.Body)
	}

	var seq uint64
	hubtest.Eventually(t, "the dead letter", func() bool {
		r := runCLI(t, env, "", "deadletter", "list", "-s", "demo", "-o", "json")
		var out struct {
			Items []struct {
				Seq uint64 `json:"seq"`
			} `json:"items"`
		}
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &out) != nil {
			t.Fatalf("list -o json: %d %s %s", r.code, r.stdout, r.stderr)
		}
		if len(out.Items) == 1 {
			seq = out.Items[0].Seq
		}
		return seq != 0
	})
	runCLI(t, env, "", "deadletter", "list", "-s", "demo").check(t, 0,
		[]string{"SEQ", fmt.Sprint(seq), "orders_created", "orders.created", "order-7", "warehouse down"}, nil)
	runCLI(t, env, "", "deadletter", "list", "-s", "demo", "--handler", "other").check(t, 0, []string{"solution demo has no dead letters"}, nil)
	runCLI(t, env, "", "deadletter", "show", fmt.Sprint(seq), "-s", "demo").check(t, 0,
		[]string{"handler:   orders_created", "event id:  order-7", "attempts:  1", "warehouse down", `"n":7`}, nil)
	runCLI(t, env, "", "deadletter", "show", "999999", "-s", "demo").check(t, ExitFailure, nil, []string{"no such dead letter"})

	deploy(`Keystore.set({key = "handled", value = event.id})`)
	runCLI(t, env, "", "deadletter", "replay", "--handler", "orders_created", "-s", "demo").check(t, 0, []string{"replayed 1 dead letter of demo"}, nil)
	hubtest.Eventually(t, "the replay to run", func() bool {
		return s.Do(t, "GET", "/api/v1/solutions/demo/keystore/keys/handled", token, nil).Status == http.StatusOK
	})
	runCLI(t, env, "", "deadletter", "list", "-s", "demo").check(t, 0, []string{"solution demo has no dead letters"}, nil)
	runCLI(t, env, "", "deadletter", "purge", "--all", "-s", "demo", "-o", "json").check(t, 0, []string{`"purged": 0`}, nil)
}

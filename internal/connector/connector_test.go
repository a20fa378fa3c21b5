package connector

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/bus"
	"github.com/switchboardhq/switchboard/internal/bus/bustest"
	"github.com/switchboardhq/switchboard/internal/events"
	"github.com/switchboardhq/switchboard/internal/solution"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func openBus(t *testing.T) *bus.Bus { return bustest.Open(t) }

func openStore(t *testing.T, b *bus.Bus) *Store {
	t.Helper()
	s, err := OpenStore(context.Background(), b, quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// publisher records the events it is given, refusing topic "nobody.here" as no handler.
type publisher struct {
	mu sync.Mutex
	es []events.Event
}

func (p *publisher) EnqueueBatch(_ context.Context, es []events.Event) []error {
	errs := make([]error, len(es))
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, e := range es {
		if e.Topic == "nobody.here" {
			errs[i] = fmt.Errorf("topic %s: %w", e.Topic, events.ErrNoHandler)
			continue
		}
		p.es = append(p.es, e)
	}
	return errs
}

func (p *publisher) events() []events.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]events.Event(nil), p.es...)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCheck(t *testing.T) {
	c := func(typ, topic, cfg string) Connector {
		return Connector{Solution: "demo", Name: "c1", Type: typ, Topic: topic, Config: json.RawMessage(cfg)}
	}
	for _, tc := range []struct {
		name  string
		c     Connector
		field string // "" = valid
	}{
		{"cron", c("cron", "ticks", `{"schedule":"*/5 * * * * *","timezone":"Europe/Berlin","catch_up":true}`), ""},
		{"cron descriptor", c("cron", "ticks", `{"schedule":"@every 30s","data":{"a":1}}`), ""},
		{"bad name", Connector{Solution: "demo", Name: "Bad Name", Type: "cron", Topic: "t", Config: json.RawMessage(`{"schedule":"@hourly"}`)}, "name"},
		{"wildcard topic", c("cron", "ticks.*", `{"schedule":"@hourly"}`), "topic"},
		{"unknown type", c("carrier-pigeon", "t", `{}`), "type"},
		{"no schedule", c("cron", "t", `{}`), "config"},
		{"unknown field", c("cron", "t", `{"schedule":"@hourly","colour":"red"}`), "config"},
		{"bad schedule", c("cron", "t", `{"schedule":"every now and then"}`), "config.schedule"},
		{"bad time zone", c("cron", "t", `{"schedule":"@hourly","timezone":"Mars/Olympus"}`), "config.timezone"},
		{"schedule of a wrong type", c("cron", "t", `{"schedule":5}`), "config.schedule"},
		{"webhook", c("webhook", "hooks.github", `{"style":"github","secret":"s3cret-value"}`), ""},
		{"webhook without a secret", c("webhook", "hooks.github", `{"style":"github"}`), "config.secret"},
		{"webhook, unknown style", c("webhook", "t", `{"style":"carrier","secret":"s3cret-value"}`), "config.style"},
		{"webhook, bad tolerance", c("webhook", "t", `{"style":"stripe","secret":"s3cret-value","tolerance":"ages"}`), "config.tolerance"},
		{"webhook, open", c("webhook", "t", `{"style":"none"}`), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Check(tc.c)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var fe *solution.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("error %v, want one naming %s", err, tc.field)
			}
		})
	}
}

func TestStore(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, openBus(t))
	in := Connector{Solution: "demo", Name: "gh", Type: "webhook", Topic: "hooks.github", Config: json.RawMessage(`{"style":"github","secret":"s3cret-value"}`)}
	got, created, err := s.Put(ctx, in)
	if err != nil || !created || got.Version != 1 {
		t.Fatalf("put: %+v, %v, %v", got, created, err)
	}
	if r := got.Redacted(); strings.Contains(string(r.Config), "s3cret") || !strings.Contains(string(r.Config), `"secret":"(set)"`) {
		t.Fatalf("redacted config %s", r.Config)
	}
	if _, err := s.SetPaused(ctx, "demo", "gh", true); err != nil {
		t.Fatal(err)
	}
	// Replacing keeps it paused: pausing is its own act.
	got, created, err = s.Put(ctx, in)
	if err != nil || created || got.Version != 3 || !got.Paused {
		t.Fatalf("replace: %+v, %v, %v", got, created, err)
	}
	if l := s.List("demo"); len(l) != 1 || l[0].Name != "gh" {
		t.Fatalf("list %+v", l)
	}
	if _, err := s.SetPaused(ctx, "demo", "ghost", false); !errors.Is(err, ErrNotFound) {
		t.Fatalf("pause a missing connector: %v", err)
	}
	if err := s.Delete(ctx, "demo", "gh"); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Get("demo", "gh"); ok {
		t.Fatal("still there after delete")
	}
	if err := s.Delete(ctx, "demo", "gh"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete again: %v", err)
	}
}

// TestCronRunsOnceAcrossInstances: two instances, one lease: every tick is fired once, by
// whichever holds it; when that one stops, the other takes over.
func TestCronRunsOnceAcrossInstances(t *testing.T) {
	ctx := context.Background()
	b := openBus(t)
	s := openStore(t, b)
	pub := &publisher{}
	var ms []*Manager
	for _, name := range []string{"a", "b"} {
		m, err := NewManager(ctx, b, s, pub, name, quiet())
		if err != nil {
			t.Fatal(err)
		}
		m.Start()
		t.Cleanup(m.Close)
		ms = append(ms, m)
	}
	c, _, err := s.Put(ctx, Connector{Solution: "demo", Name: "tick", Type: "cron", Topic: "ticks", Config: json.RawMessage(`{"schedule":"@every 1s"}`)})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "two ticks", func() bool { return len(pub.events()) >= 2 })
	st := ms[0].Status(ctx, c)
	if st.State != StateRunning || st.Instance == "" {
		t.Fatalf("status %+v", st)
	}
	holder := map[string]*Manager{"a": ms[0], "b": ms[1]}[st.Instance]
	if st := holder.Status(ctx, c); st.Published < 2 || st.Received < 2 {
		t.Fatalf("the running instance's status %+v, want its counts", st)
	}
	holder.Close()
	other := ms[0]
	if holder == ms[0] {
		other = ms[1]
	}
	n := len(pub.events())
	eventually(t, "the other instance to take over", func() bool {
		s := other.Status(ctx, c)
		return s.Instance != st.Instance && s.State == StateRunning && len(pub.events()) >= n+2
	})
	seen := map[string]bool{}
	for _, e := range pub.events() {
		if seen[e.ID] {
			t.Fatalf("tick %s fired twice", e.ID)
		}
		seen[e.ID] = true
		if e.Topic != "ticks" || !strings.HasPrefix(e.ID, "tick:") || e.Source != "/solutions/demo/connectors/tick" {
			t.Fatalf("event %+v", e)
		}
	}
	if _, err := s.SetPaused(ctx, "demo", "tick", true); err != nil {
		t.Fatal(err)
	}
	c, _ = s.Get("demo", "tick")
	if st := other.Status(ctx, c); st.State != StatePaused {
		t.Fatalf("paused connector's status %+v", st)
	}
}

type memCheckpoint struct{ v []byte }

func (m *memCheckpoint) Load(context.Context) ([]byte, error)   { return m.v, nil }
func (m *memCheckpoint) Save(_ context.Context, v []byte) error { m.v = v; return nil }

type sinkFunc func([]Message) error

func (f sinkFunc) Publish(_ context.Context, ms []Message) error { return f(ms) }

// TestCronCatchUp: with catch_up, the last tick missed while nobody ran the connector is
// fired once on start; without, none is.
func TestCronCatchUp(t *testing.T) {
	for _, catchUp := range []bool{true, false} {
		src, err := newCron(json.RawMessage(fmt.Sprintf(`{"schedule":"0 * * * *","catch_up":%v}`, catchUp)))
		if err != nil {
			t.Fatal(err)
		}
		cs := src.(*cronSource)
		cs.now = func() time.Time { return time.Date(2026, 11, 29, 13, 30, 0, 0, time.UTC) }
		last, _ := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC).MarshalText()
		cp := &memCheckpoint{v: last}
		var fired []string
		ctx, cancel := context.WithCancel(context.Background())
		sink := sinkFunc(func(ms []Message) error {
			fired = append(fired, ms[0].ID)
			return nil
		})
		cancel() // Run fires what is due at start, then sees the end at once
		if err := cs.Run(ctx, sink, cp); err != nil {
			t.Fatal(err)
		}
		want := []string(nil)
		if catchUp {
			want = []string{"2026-11-29T13:00:00Z"}
		}
		if strings.Join(fired, ",") != strings.Join(want, ",") {
			t.Fatalf("catch_up %v: fired %v, want %v", catchUp, fired, want)
		}
	}
}

func sign(secret string, data []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(data)
	return hex.EncodeToString(mac.Sum(nil))
}

// TestWebhookSignatures: calls signed as GitHub and Stripe sign them, or with the shared
// secret, are stored; anything else is 401 and stores nothing. GitHub's own example
// (docs.github.com, "Validating webhook deliveries") is one of them.
func TestWebhookSignatures(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, openBus(t))
	pub := &publisher{}
	now := time.Unix(1_790_000_000, 0)
	h := NewWebhooks(WebhookOptions{Store: s, Publisher: pub, Logger: quiet(), MaxBody: 1 << 20})
	h.now = func() time.Time { return now }
	mux := http.NewServeMux()
	mux.Handle("/hooks/{solution}/{name}", h)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for name, cfg := range map[string]string{
		"gh":     `{"style":"github","secret":"It's a Secret to Everybody"}`,
		"stripe": `{"style":"stripe","secret":"whsec_test_secret"}`,
		"shared": `{"style":"shared","secret":"a-shared-secret","header":"X-Token"}`,
		"open":   `{"style":"none"}`,
		"nobody": `{"style":"none"}`,
	} {
		topic := "hooks." + name
		if name == "nobody" {
			topic = "nobody.here"
		}
		if _, _, err := s.Put(ctx, Connector{Solution: "demo", Name: name, Type: "webhook", Topic: topic, Config: json.RawMessage(cfg)}); err != nil {
			t.Fatal(err)
		}
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	stripeBody := `{"id":"evt_1","type":"charge.succeeded"}`
	old := strconv.FormatInt(now.Add(-10*time.Minute).Unix(), 10)
	for _, tc := range []struct {
		name, hook, body string
		headers          map[string]string
		status           int
	}{
		{"github's example", "gh", "Hello, World!", map[string]string{"X-Hub-Signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", "X-GitHub-Delivery": "d-1", "X-GitHub-Event": "ping"}, 202},
		{"github, wrong signature", "gh", "Hello, World?", map[string]string{"X-Hub-Signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"}, 401},
		{"github, unsigned", "gh", "Hello, World!", nil, 401},
		{"stripe", "stripe", stripeBody, map[string]string{"Stripe-Signature": "t=" + ts + ",v1=" + sign("whsec_test_secret", []byte(ts+"."+stripeBody))}, 202},
		{"stripe, second signature matches", "stripe", stripeBody, map[string]string{"Stripe-Signature": "t=" + ts + ",v1=00ff,v1=" + sign("whsec_test_secret", []byte(ts+"."+stripeBody))}, 202},
		{"stripe, too old", "stripe", stripeBody, map[string]string{"Stripe-Signature": "t=" + old + ",v1=" + sign("whsec_test_secret", []byte(old+"."+stripeBody))}, 401},
		{"stripe, other secret", "stripe", stripeBody, map[string]string{"Stripe-Signature": "t=" + ts + ",v1=" + sign("whsec_other", []byte(ts+"."+stripeBody))}, 401},
		{"shared", "shared", `{"a":1}`, map[string]string{"X-Token": "a-shared-secret"}, 202},
		{"shared, wrong", "shared", `{"a":1}`, map[string]string{"X-Token": "a-shared-secreT"}, 401},
		{"open", "open", `plain text`, map[string]string{"Content-Type": "text/plain"}, 202},
		{"no handler", "nobody", `{}`, nil, 404},
		{"no such webhook", "ghost", `{}`, nil, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", srv.URL+"/hooks/demo/"+tc.hook, strings.NewReader(tc.body))
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("%d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
	got := map[string]events.Event{}
	for _, e := range pub.events() {
		got[e.Topic] = e
	}
	if len(pub.events()) != 5 {
		t.Fatalf("%d events stored, want 5: %+v", len(pub.events()), pub.events())
	}
	if e := got["hooks.gh"]; e.ID != "gh:d-1" || e.Extensions["xgithubevent"] != "ping" || e.Data != "Hello, World!" {
		t.Fatalf("github event %+v", e)
	}
	if e := got["hooks.stripe"]; e.ID != "stripe:evt_1" {
		t.Fatalf("stripe event %+v", e)
	}
	if e := got["hooks.shared"]; string(e.Data.(json.RawMessage)) != `{"a":1}` {
		t.Fatalf("shared event %+v", e)
	}
}

// TestWebhookBounds: a body over the bound is 413 and a paused webhook 503, storing nothing.
func TestWebhookBounds(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, openBus(t))
	pub := &publisher{}
	mux := http.NewServeMux()
	mux.Handle("/hooks/{solution}/{name}", NewWebhooks(WebhookOptions{Store: s, Publisher: pub, Logger: quiet(), MaxBody: 1024}))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	if _, _, err := s.Put(ctx, Connector{Solution: "demo", Name: "open", Type: "webhook", Topic: "t", Config: json.RawMessage(`{"style":"none"}`)}); err != nil {
		t.Fatal(err)
	}
	post := func() int {
		resp, err := http.Post(srv.URL+"/hooks/demo/open", "application/json", strings.NewReader(`"`+strings.Repeat("x", 2000)+`"`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := post(); st != http.StatusRequestEntityTooLarge {
		t.Fatalf("large body: %d, want 413", st)
	}
	if _, err := s.SetPaused(ctx, "demo", "open", true); err != nil {
		t.Fatal(err)
	}
	if st := post(); st != http.StatusServiceUnavailable {
		t.Fatalf("paused: %d, want 503", st)
	}
	if n := len(pub.events()); n != 0 {
		t.Fatalf("%d events stored", n)
	}
}

// TestCreateOnce: two instances creating one name at once: one succeeds, the other is told it
// exists, and the first one's connector stands.
func TestCreateOnce(t *testing.T) {
	ctx := context.Background()
	b := openBus(t)
	a, other := openStore(t, b), openStore(t, b)
	c := Connector{Solution: "demo", Name: "tick", Type: "cron", Topic: "ticks", Config: json.RawMessage(`{"schedule":"@hourly"}`)}
	errs := make(chan error, 2)
	var wg sync.WaitGroup
	for i, s := range []*Store{a, other} {
		wg.Go(func() {
			cc := c
			cc.Topic = fmt.Sprintf("ticks.n%d", i)
			_, err := s.Create(ctx, cc)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	var ok, exists int
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrExists):
			exists++
		default:
			t.Fatalf("create: %v", err)
		}
	}
	if ok != 1 || exists != 1 {
		t.Fatalf("%d created, %d told it exists; want 1 and 1", ok, exists)
	}
	if _, err := a.Create(ctx, c); !errors.Is(err, ErrExists) {
		t.Fatalf("create again: %v, want ErrExists", err)
	}
}

// TestStoreBoundsConnectorsPerSolution: a solution has at most MaxPerSolution connectors; one
// more is refused naming the bound, replacing one is not, and another solution is not held back.
func TestStoreBoundsConnectorsPerSolution(t *testing.T) {
	defer func(n int) { MaxPerSolution = n }(MaxPerSolution)
	MaxPerSolution = 3
	ctx := context.Background()
	s := openStore(t, openBus(t))
	tick := func(sol, name string) Connector {
		return Connector{Solution: sol, Name: name, Type: "cron", Topic: "ticks", Config: json.RawMessage(`{"schedule":"@hourly"}`)}
	}
	for i := range 3 {
		if _, err := s.Create(ctx, tick("demo", fmt.Sprintf("t%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	var fe *solution.FieldError
	if _, err := s.Create(ctx, tick("demo", "t3")); !errors.As(err, &fe) || fe.Field != "name" || !strings.Contains(fe.Reason, "3 connectors") {
		t.Fatalf("a fourth by Create: %v, want a refusal naming the bound", err)
	}
	if _, _, err := s.Put(ctx, tick("demo", "t3")); !errors.As(err, &fe) {
		t.Fatalf("a fourth by Put: %v, want a refusal", err)
	}
	if _, created, err := s.Put(ctx, tick("demo", "t0")); err != nil || created {
		t.Fatalf("replacing one: created %v, %v", created, err)
	}
	if _, err := s.Create(ctx, tick("other", "t0")); err != nil {
		t.Fatalf("another solution's first: %v", err)
	}
}

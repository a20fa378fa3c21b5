package application

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/bus"
	"github.com/switchboardhq/switchboard/internal/bus/bustest"
	"github.com/switchboardhq/switchboard/internal/solution"
)

func testBus(t *testing.T) *bus.Bus { return bustest.Open(t) }

func openStore(t *testing.T, b *bus.Bus, o Options) *Store {
	t.Helper()
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := OpenStore(context.Background(), b, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

const asyncJSON = `{"asyncapi":"2.0.0","info":{"title":"orders","version":"1"},"channels":{"order/created":{}}}`

func inline(data string) EventAPI {
	return EventAPI{Spec: Spec{Type: SpecTypeAsyncAPI, Data: data}}
}

// fieldOf is the field a *solution.FieldError names ("" for another error).
func fieldOf(err error) string {
	var fe *solution.FieldError
	if errors.As(err, &fe) {
		return fe.Field
	}
	return ""
}

// TestRegisterChecks: bad input is refused naming the field at fault.
func TestRegisterChecks(t *testing.T) {
	s := openStore(t, testBus(t), Options{})
	ctx := context.Background()
	big := strings.Repeat("x", MaxSpecBytes+1)
	many := map[string]any{}
	for i := range MaxLabels + 1 {
		many[fmt.Sprint("k", i)] = i
	}
	cases := []struct {
		name  string
		app   Application
		field string
	}{
		{"upper-case name", Application{Name: "Orders"}, "name"},
		{"dot in name", Application{Name: "a.b"}, "name"},
		{"name too long", Application{Name: strings.Repeat("a", 37)}, "name"},
		{"health check not http", Application{Name: "a", HealthCheckURL: "ftp://x/"}, "healthCheckURL"},
		{"too many labels", Application{Name: "a", Labels: many}, "labels"},
		{"labels too large", Application{Name: "a", Labels: map[string]any{"k": strings.Repeat("v", MaxLabelsBytes)}}, "labels"},
		{"spec without data or fetch", Application{Name: "a", EventAPIs: []EventAPI{{Spec: Spec{Type: SpecTypeAsyncAPI}}}}, "eventAPIs[0].spec"},
		{"spec too large", Application{Name: "a", EventAPIs: []EventAPI{inline(big)}}, "eventAPIs[0].spec.data"},
		{"spec neither JSON nor YAML", Application{Name: "a", EventAPIs: []EventAPI{inline("{: [")}}, "eventAPIs[0].spec.data"},
		{"fetch URL relative", Application{Name: "a", EventAPIs: []EventAPI{{Spec: Spec{Type: SpecTypeAsyncAPI, FetchRequest: &FetchRequest{URL: "/x", Mode: ModeSingle}}}}}, "eventAPIs[0].spec.fetchRequest.url"},
		{"two credentials", Application{Name: "a", EventAPIs: []EventAPI{{Spec: inline(asyncJSON).Spec, Auth: &Auth{Basic: &Basic{}, OAuth: &OAuth{}}}}}, "eventAPIs[0].auth.credential"},
		{"header injection", Application{Name: "a", EventAPIs: []EventAPI{{Spec: inline(asyncJSON).Spec, Auth: &Auth{Basic: &Basic{}, AdditionalHeaders: map[string][]string{"X": {"a\r\nEvil: 1"}}}}}}, "eventAPIs[0].auth.additionalHeaders"},
		{"event API name too long", Application{Name: "a", EventAPIs: []EventAPI{{Name: strings.Repeat("n", MaxEventAPINameLen+1), Spec: inline(asyncJSON).Spec}}}, "eventAPIs[0].name"},
		{"event API description too long", Application{Name: "a", EventAPIs: []EventAPI{{Description: strings.Repeat("d", MaxTextLen+1), Spec: inline(asyncJSON).Spec}}}, "eventAPIs[0].description"},
		{"unknown format stated", Application{Name: "a", EventAPIs: []EventAPI{{Spec: Spec{Type: SpecTypeAsyncAPI, Data: asyncJSON, StatedFormat: "XML"}}}}, "eventAPIs[0].spec.format"},
		{"YAML stated as JSON", Application{Name: "a", EventAPIs: []EventAPI{{Spec: Spec{Type: SpecTypeAsyncAPI, Data: "asyncapi: 2.0.0", StatedFormat: FormatJSON}}}}, "eventAPIs[0].spec.data"},
		{"subscription without topic", Application{Name: "a", EventAPIs: []EventAPI{{Spec: inline(asyncJSON).Spec, ExternalSubscriptions: []Subscription{{URL: "nats://x:4222"}}}}}, "eventAPIs[0].externalSubscriptions[0].topic"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.Register(ctx, "sol", c.app)
			if got := fieldOf(err); got != c.field {
				t.Fatalf("Register: %v; want an error naming %q", err, c.field)
			}
		})
	}
	// A stated format the document is of wins: JSON is also YAML.
	a, err := s.Register(ctx, "sol", Application{Name: "stated", EventAPIs: []EventAPI{{Name: "orders-v1", Spec: Spec{Type: SpecTypeAsyncAPI, Data: asyncJSON, StatedFormat: FormatYAML}}}})
	if err != nil || a.EventAPIs[0].Spec.Format != FormatYAML || a.EventAPIs[0].Name != "orders-v1" {
		t.Fatalf("JSON stated as YAML: %+v, %v", a, err)
	}
	if _, err := s.Unregister(ctx, "sol", a.ID); err != nil {
		t.Fatal(err)
	}
	tooMany := Application{Name: "a"}
	for range MaxEventAPIs + 1 {
		tooMany.EventAPIs = append(tooMany.EventAPIs, inline(asyncJSON))
	}
	if _, err := s.Register(ctx, "sol", tooMany); fieldOf(err) != "eventAPIs" {
		t.Fatalf("%d event APIs: %v; want an error naming eventAPIs", len(tooMany.EventAPIs), err)
	}
	if n := len(s.List("")); n != 0 {
		t.Fatalf("%d applications stored after refusals", n)
	}
}

// TestIsolationAndNames: a solution sees only its own applications; names are unique in a
// solution, not across solutions; unregistering frees the name.
func TestIsolationAndNames(t *testing.T) {
	s := openStore(t, testBus(t), Options{})
	ctx := context.Background()
	a, err := s.Register(ctx, "sol-a", Application{Name: "orders", EventAPIs: []EventAPI{inline(asyncJSON)}})
	if err != nil {
		t.Fatal(err)
	}
	if a.EventAPIs[0].Spec.Format != FormatJSON || a.EventAPIs[0].Spec.DataSize != len(asyncJSON) {
		t.Fatalf("spec %+v; want format JSON, data size %d", a.EventAPIs[0].Spec, len(asyncJSON))
	}
	if _, err := s.Register(ctx, "sol-a", Application{Name: "orders"}); !errors.Is(err, ErrNameTaken) {
		t.Fatalf("same name again: %v; want ErrNameTaken", err)
	}
	b, err := s.Register(ctx, "sol-b", Application{Name: "orders"})
	if err != nil {
		t.Fatalf("same name in another solution: %v", err)
	}
	if _, ok := s.Get("sol-b", a.ID); ok {
		t.Fatal("sol-b sees sol-a's application")
	}
	if _, _, ok := s.EventAPI("sol-b", a.EventAPIs[0].ID); ok {
		t.Fatal("sol-b sees sol-a's event API")
	}
	if _, err := s.Unregister(ctx, "sol-b", a.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("sol-b unregisters sol-a's: %v; want ErrNotFound", err)
	}
	if _, err := s.DeleteEventAPI(ctx, "sol-b", a.EventAPIs[0].ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("sol-b deletes sol-a's event API: %v; want ErrNotFound", err)
	}
	if got := s.List("sol-a"); len(got) != 1 || got[0].ID != a.ID {
		t.Fatalf("List(sol-a) = %+v", got)
	}
	if got := s.List(""); len(got) != 2 {
		t.Fatalf("List(all) has %d; want 2", len(got))
	}
	data, err := s.SpecData(ctx, "sol-a", a.EventAPIs[0].ID)
	if err != nil || data != asyncJSON {
		t.Fatalf("SpecData = %q, %v", data, err)
	}
	if _, err := s.Unregister(ctx, "sol-a", a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Register(ctx, "sol-a", Application{Name: "orders"}); err != nil {
		t.Fatalf("name after unregistering: %v", err)
	}
	if err := s.DropSolution(ctx, "sol-a"); err != nil {
		t.Fatal(err)
	}
	if got := s.List("sol-a"); len(got) != 0 {
		t.Fatalf("after DropSolution: %+v", got)
	}
	if _, ok := s.Get("", b.ID); !ok {
		t.Fatal("DropSolution(sol-a) removed sol-b's application")
	}
}

// TestRename: a rename takes the new name and frees the old; a taken name is refused.
func TestRename(t *testing.T) {
	s := openStore(t, testBus(t), Options{})
	ctx := context.Background()
	a, _ := s.Register(ctx, "sol", Application{Name: "one"})
	if _, err := s.Register(ctx, "sol", Application{Name: "two"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, "sol", a.ID, Application{Name: "two"}); !errors.Is(err, ErrNameTaken) {
		t.Fatalf("rename to a taken name: %v", err)
	}
	up, err := s.Update(ctx, "sol", a.ID, Application{Name: "three", Description: "d", Labels: map[string]any{"env": "prod"}})
	if err != nil || up.Name != "three" || up.Description != "d" {
		t.Fatalf("Update = %+v, %v", up, err)
	}
	if _, err := s.Register(ctx, "sol", Application{Name: "one"}); err != nil {
		t.Fatalf("old name after rename: %v", err)
	}
}

// TestBounds: applications per solution and event APIs per application.
func TestBounds(t *testing.T) {
	s := openStore(t, testBus(t), Options{})
	ctx := context.Background()
	defer func(p, e int) { MaxPerSolution, MaxEventAPIs = p, e }(MaxPerSolution, MaxEventAPIs)
	MaxPerSolution, MaxEventAPIs = 2, 2
	for _, n := range []string{"a", "b"} {
		if _, err := s.Register(ctx, "sol", Application{Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Register(ctx, "sol", Application{Name: "c"}); fieldOf(err) != "name" || !strings.Contains(err.Error(), "the most") {
		t.Fatalf("third application: %v; want refused", err)
	}
	if _, err := s.Register(ctx, "other", Application{Name: "c"}); err != nil {
		t.Fatalf("another solution's bound is its own: %v", err)
	}
	a := s.List("sol")[0]
	for range 2 {
		if _, err := s.AddEventAPI(ctx, "sol", a.ID, inline(asyncJSON)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.AddEventAPI(ctx, "sol", a.ID, inline(asyncJSON)); fieldOf(err) != "applicationID" {
		t.Fatalf("third event API: %v; want refused naming applicationID", err)
	}
}

// TestConcurrentAdds: event APIs added at once, through two stores on one bucket (two
// instances), are all kept: each write is on the revision it read.
func TestConcurrentAdds(t *testing.T) {
	b := testBus(t)
	s1, s2 := openStore(t, b, Options{}), openStore(t, b, Options{})
	ctx := context.Background()
	a, err := s1.Register(ctx, "sol", Application{Name: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { _, ok := s2.Get("sol", a.ID); return ok })
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := s1
			if i%2 == 1 {
				s = s2
			}
			if _, err := s.AddEventAPI(ctx, "sol", a.ID, inline(asyncJSON)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	full, _, err := s1.read(ctx, "sol", a.ID)
	if err != nil || len(full.EventAPIs) != 10 {
		t.Fatalf("stored %d event APIs (%v); want 10", len(full.EventAPIs), err)
	}
	waitFor(t, func() bool { got, _ := s2.Get("sol", a.ID); return len(got.EventAPIs) == 10 })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type fakeFetcher struct {
	data string
	err  error
	got  []FetchRequest
}

func (f *fakeFetcher) Fetch(_ context.Context, fr FetchRequest, max int) ([]byte, error) {
	f.got = append(f.got, fr)
	if len(f.data) > max {
		return nil, fmt.Errorf("larger than %d", max)
	}
	return []byte(f.data), f.err
}

type fakeParser struct{}

func (fakeParser) Parse(data []byte) ([]string, error) {
	if !strings.Contains(string(data), "asyncapi") {
		return nil, errors.New("not an AsyncAPI document")
	}
	return []string{"order.created"}, nil
}

// TestFetchAndRefetch: a fetch request's document is fetched on register and on refetch; a
// failure is kept in the status, not refused; the parser's topics are kept and its refusal of
// inline data names the field.
func TestFetchAndRefetch(t *testing.T) {
	f := &fakeFetcher{err: errors.New("connection refused")}
	s := openStore(t, testBus(t), Options{Fetcher: f, Parser: fakeParser{}})
	ctx := context.Background()
	fetched := EventAPI{Spec: Spec{Type: SpecTypeAsyncAPI, FetchRequest: &FetchRequest{URL: "http://app.example/spec", Mode: ModeSingle,
		Auth: &Auth{Basic: &Basic{Username: "u", Password: "p"}}}}}
	a, err := s.Register(ctx, "sol", Application{Name: "orders", EventAPIs: []EventAPI{fetched}})
	if err != nil {
		t.Fatal(err)
	}
	st := a.EventAPIs[0].Spec.FetchRequest.Status
	if st.Condition != FetchFailed || !strings.Contains(st.Message, "connection refused") || st.Timestamp.IsZero() {
		t.Fatalf("status after a failed fetch: %+v", st)
	}
	if len(f.got) != 1 || f.got[0].Auth.Basic.Username != "u" {
		t.Fatalf("fetcher got %+v", f.got)
	}
	f.data, f.err = "asyncapi: 2.0.0\n", nil
	e, err := s.Refetch(ctx, "sol", a.EventAPIs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if e.Spec.FetchRequest.Status.Condition != FetchSucceeded || e.Spec.Format != FormatYAML || len(e.Spec.Topics) != 1 {
		t.Fatalf("after refetch: %+v", e.Spec)
	}
	if data, _ := s.SpecData(ctx, "sol", e.ID); data != f.data {
		t.Fatalf("stored data %q", data)
	}
	f.data = "{}"
	e, _ = s.Refetch(ctx, "sol", e.ID)
	if e.Spec.FetchRequest.Status.Condition != FetchFailed || e.Spec.Data != "" {
		t.Fatalf("a fetched document the parser refuses: %+v", e.Spec)
	}
	if _, err := s.AddEventAPI(ctx, "sol", a.ID, inline("{}")); fieldOf(err) != "spec.data" {
		t.Fatalf("inline data the parser refuses: %v", err)
	}
	inl, err := s.AddEventAPI(ctx, "sol", a.ID, inline(asyncJSON))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Refetch(ctx, "sol", inl.ID); fieldOf(err) != "eventID" {
		t.Fatalf("refetch without a fetch request: %v", err)
	}
	pkg := fetched
	pkg.Spec.FetchRequest = &FetchRequest{URL: "http://app.example/spec", Mode: ModePackage}
	e, err = s.UpdateEventAPI(ctx, "sol", inl.ID, pkg)
	if err != nil || e.ID != inl.ID || e.Spec.FetchRequest.Status.Condition != FetchFailed {
		t.Fatalf("update to mode PACKAGE: %+v, %v; want kept id and a failed status", e, err)
	}
}

func TestByName(t *testing.T) {
	s := openStore(t, testBus(t), Options{})
	a, err := s.Register(context.Background(), "shop", Application{Name: "commerce"})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := s.ByName("shop", "commerce"); !ok || got.ID != a.ID {
		t.Errorf("ByName: %+v, %v", got, ok)
	}
	for _, c := range [][2]string{{"other", "commerce"}, {"shop", "marketing"}} {
		if _, ok := s.ByName(c[0], c[1]); ok {
			t.Errorf("ByName(%q, %q) found one", c[0], c[1])
		}
	}
}

// purged is the watch's entry of a purge of key at rev.
type purged struct{ bus.Put }

func (purged) Operation() jetstream.KeyValueOp { return jetstream.KeyValuePurge }

// TestUnregisteredStaysGone: the watch may bring an application's last revision after it was
// unregistered here (it saw the put late); that does not bring it back, before or after the
// purge comes.
func TestUnregisteredStaysGone(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, testBus(t), Options{})
	a, err := s.Register(ctx, "sol-a", Application{Name: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := s.Get("", a.ID)
	data, _ := json.Marshal(got)
	if _, err := s.Unregister(ctx, "sol-a", a.ID); err != nil {
		t.Fatal(err)
	}
	s.apply(bus.Put{K: appKey("sol-a", a.ID), V: data, Rev: got.Revision}) // the put, late
	if l := s.List("sol-a"); len(l) != 0 {
		t.Fatalf("a late put brought the unregistered application back: %+v", l)
	}
	s.apply(purged{bus.Put{K: appKey("sol-a", a.ID), Rev: got.Revision + 1}})
	s.apply(bus.Put{K: appKey("sol-a", a.ID), V: data, Rev: got.Revision})
	if l := s.List("sol-a"); len(l) != 0 {
		t.Fatalf("after the purge, a late put brought it back: %+v", l)
	}
}

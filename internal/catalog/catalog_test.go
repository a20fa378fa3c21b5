package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/bus"
)

func openCatalog(t *testing.T, b *bus.Bus, interval time.Duration) *Catalog {
	t.Helper()
	c, err := Open(context.Background(), b, Options{HealthInterval: interval,
		CoreNames: func(n string) bool { return n == "keystore" }})
	if err != nil {
		t.Fatalf("open catalog: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

func doc(host string) string {
	return `swagger: "2.0"
info: {title: t, version: "1"}
host: ` + host + `
x-exosite-health-path: /health
x-exosite-config-parameters:
  - {name: region, type: string, default: eu}
  - {name: apikey, type: string, format: password}
paths:
  /op:
    post:
      operationId: op
      responses: {"200": {description: ok}}
`
}

// jsonText is s as a JSON string, the way a registration may carry a YAML document.
func jsonText(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCatalogLifecycle(t *testing.T) {
	ctx := context.Background()
	var healthy atomic.Bool
	healthy.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	dir := t.TempDir()
	b, err := bus.Open(ctx, bus.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c := openCatalog(t, b, 20*time.Millisecond)
	other := openCatalog(t, b, time.Hour) // a second instance

	res, err := c.Register(ctx, Registration{Name: "svc", Swagger: jsonText(doc(host))}, Credentials{})
	if err != nil || res.Status != StatusRegistered || res.Token != c.Token("svc") {
		t.Fatalf("register: %+v, %v", res, err)
	}
	if !c.Authenticate("svc", res.Token) || c.Authenticate("svc", res.Token+"x") || c.Authenticate("nope", c.Token("nope")) {
		t.Fatal("Authenticate accepts the wrong thing")
	}
	eventually(t, "the other instance to see the service", func() bool { _, ok := other.Get("svc"); return ok })
	if other.Token("svc") != res.Token {
		t.Fatal("instances disagree on the token")
	}
	if upd, err := c.Register(ctx, Registration{Name: "svc", Swagger: jsonText(doc(host))}, Credentials{ServiceToken: res.Token}); err != nil || upd.Status != StatusUpdated || upd.Token != res.Token {
		t.Fatalf("update: %+v, %v (the token must stay the same)", upd, err)
	}
	if e, _ := c.Get("svc"); e.Version != 2 {
		t.Fatalf("version %d after an update", e.Version)
	}
	var ve *ValidationError
	if _, err := c.Register(ctx, Registration{Name: "keystore", Swagger: jsonText(doc(host))}, Credentials{}); !errors.As(err, &ve) || ve.Field != FieldName {
		t.Fatalf("core name: %v", err)
	}

	// Periodic health checks: down when the health path fails, up again after.
	healthy.Store(false)
	eventually(t, "the service to be seen down", func() bool { return c.Health("svc").Status == "down" })
	healthy.Store(true)
	eventually(t, "the service to be seen up", func() bool { return c.Health("svc").Status == "up" })

	// Parameters: defaults filled, unknown refused, secrets masked.
	e, _ := c.Get("svc")
	params, err := CheckParameters(e.Desc, map[string]any{"apikey": "s3cret"})
	if err != nil || params["region"] != "eu" {
		t.Fatalf("CheckParameters: %v %v", params, err)
	}
	if _, err := CheckParameters(e.Desc, map[string]any{"colour": "red"}); !errors.As(err, &ve) || ve.Field != "parameters.colour" {
		t.Fatalf("unknown parameter: %v", err)
	}
	if _, err := CheckParameters(nil, map[string]any{"x": 1}); err == nil {
		t.Fatal("a core service took parameters")
	}
	cfg, created, err := c.PutConfig(ctx, "demo", "svc", params)
	if err != nil || !created {
		t.Fatalf("PutConfig: %v %v", created, err)
	}
	if m := Masked(e.Desc, cfg); m["apikey"] != nil || m["region"] != "eu" {
		t.Fatalf("Masked = %v", m)
	}
	// A later document that no longer marks apikey secret does not reveal it, and without a
	// description nothing is shown.
	relaxed := &Description{Name: e.Desc.Name, Doc: e.Desc.Doc} // no config parameters
	if m := Masked(relaxed, cfg); m["apikey"] != nil {
		t.Fatalf("Masked with a relaxed document = %v", m)
	}
	if m := Masked(nil, cfg); len(m) != 0 {
		t.Fatalf("Masked without a description = %v", m)
	}
	eventually(t, "the other instance to see the config", func() bool { _, ok := other.AddedConfig("demo", "svc"); return ok })

	// Deregistration removes the service from every solution.
	if err := c.Delete(ctx, "svc"); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.AddedConfig("demo", "svc"); ok {
		t.Fatal("config left after deregistration")
	}
	eventually(t, "the other instance to forget the service", func() bool { _, ok := other.Get("svc"); return !ok })
	if err := c.Delete(ctx, "svc"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	// Registered again after its deregistration, the service gets a new token.
	again, err := c.Register(ctx, Registration{Name: "svc", Swagger: jsonText(doc(host))}, Credentials{ServiceToken: res.Token})
	if err != nil || again.Token == res.Token || c.Authenticate("svc", res.Token) {
		t.Fatalf("re-registration after deregistration: %+v, %v; the old token must not work", again, err)
	}
	// A document full of characters JSON escapes for HTML still fits.
	big := doc(host) + "x-notes: \"" + strings.Repeat("<>&", 250_000) + "\"\n"
	if _, err := c.Register(ctx, Registration{Name: "big", Swagger: jsonText(big)}, Credentials{}); err != nil {
		t.Fatalf("register a document of %d bytes full of <>&: %v", len(big), err)
	}
}

func TestKeepSecrets(t *testing.T) {
	t.Parallel()
	d := &Description{ConfigParameters: []ConfigParameter{
		{Name: "region"}, {Name: "apikey", Secret: true}, {Name: "pin", Secret: true}, {Name: "formerly"},
	}}
	old := Config{
		Parameters: map[string]any{"region": "eu", "apikey": "hunter2", "pin": "1234", "formerly": "x", "dropped": "y"},
		Secret:     []string{"apikey", "pin", "formerly", "dropped"},
	}
	cases := []struct {
		name   string
		d      *Description
		params map[string]any
		want   map[string]any
	}{
		{"secrets not mentioned are kept", d, map[string]any{"region": "us"},
			map[string]any{"region": "us", "apikey": "hunter2", "pin": "1234", "formerly": "x"}},
		{"a secret given replaces", d, map[string]any{"apikey": "new"},
			map[string]any{"apikey": "new", "pin": "1234", "formerly": "x"}},
		{"a secret given as null is removed", d, map[string]any{"apikey": nil},
			map[string]any{"pin": "1234", "formerly": "x"}},
		{"no parameters at all", d, nil,
			map[string]any{"apikey": "hunter2", "pin": "1234", "formerly": "x"}},
		{"not secret and not given: gone", d, map[string]any{},
			map[string]any{"apikey": "hunter2", "pin": "1234", "formerly": "x"}},
		{"no form: what was secret is kept", &Description{}, map[string]any{"region": "us"},
			map[string]any{"region": "us", "apikey": "hunter2", "pin": "1234", "formerly": "x", "dropped": "y"}},
		{"service gone: nothing added", nil, map[string]any{"region": "us"}, map[string]any{"region": "us"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := KeepSecrets(tc.d, old, tc.params)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("KeepSecrets = %v; want %v", got, tc.want)
			}
		})
	}
	if _, ok := old.Parameters["apikey"]; !ok {
		t.Error("KeepSecrets changed the old config")
	}
}

// TestRegisterOwnership: a registered name changes only for its own token or the admin; a
// refusal reaches no host and changes nothing; concurrent first registrations create it once.
func TestRegisterOwnership(t *testing.T) {
	ctx := context.Background()
	owner := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer owner.Close()
	var intruderHits atomic.Int64
	intruder := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { intruderHits.Add(1) }))
	defer intruder.Close()
	ownerHost, intruderHost := strings.TrimPrefix(owner.URL, "http://"), strings.TrimPrefix(intruder.URL, "http://")
	b, err := bus.Open(ctx, bus.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c := openCatalog(t, b, time.Hour)
	first, err := c.Register(ctx, Registration{Name: "svc", Swagger: jsonText(doc(ownerHost))}, Credentials{ServiceToken: "ignored for a new name"})
	if err != nil || first.Status != StatusRegistered {
		t.Fatalf("register: %+v %v", first, err)
	}
	for _, tc := range []struct {
		name string
		cred Credentials
		ok   bool
	}{
		{"registration token only", Credentials{}, false},
		{"wrong service token", Credentials{ServiceToken: first.Token + "x"}, false},
		{"another name's token", Credentials{ServiceToken: "sbt_0000"}, false},
		{"own token", Credentials{ServiceToken: first.Token}, true},
		{"admin", Credentials{Admin: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := c.Get("svc")
			intruderHits.Store(0)
			res, err := c.Register(ctx, Registration{Name: "svc", Swagger: jsonText(doc(intruderHost))}, tc.cred)
			after, _ := c.Get("svc")
			if !tc.ok {
				if !errors.Is(err, ErrNotOwner) || res.Token != "" {
					t.Fatalf("got %+v, %v; want ErrNotOwner and no token", res, err)
				}
				if intruderHits.Load() != 0 {
					t.Errorf("the hub reached the host of a refused update %d times", intruderHits.Load())
				}
				if after != before || c.Token("svc") != first.Token || after.Desc.BaseURL.Host != before.Desc.BaseURL.Host {
					t.Errorf("a refused update changed the service: version %d → %d, host %s → %s", before.Version, after.Version, before.Desc.BaseURL.Host, after.Desc.BaseURL.Host)
				}
				return
			}
			if err != nil || res.Status != StatusUpdated || res.Token != first.Token || after.Version != before.Version+1 || after.Desc.BaseURL.Host != intruderHost {
				t.Fatalf("update: %+v %v, version %d, host %s", res, err, after.Version, after.Desc.BaseURL.Host)
			}
		})
	}

	// Concurrent first registrations of a name: one creates it, every other is refused.
	const n = 8
	errs := make(chan error, n)
	tokens := make(chan string, n)
	for range n {
		go func() {
			res, err := c.Register(ctx, Registration{Name: "race", Swagger: jsonText(doc(ownerHost))}, Credentials{})
			tokens <- res.Token
			errs <- err
		}()
	}
	var created, refused int
	for range n {
		switch err := <-errs; {
		case err == nil:
			created++
		case errors.Is(err, ErrNotOwner):
			refused++
		default:
			t.Errorf("concurrent registration: %v", err)
		}
		if tok := <-tokens; tok != "" && tok != c.Token("race") {
			t.Errorf("a registration answered token %q, the service has %q", tok, c.Token("race"))
		}
	}
	if created != 1 || refused != n-1 {
		t.Errorf("%d created, %d refused; want 1 and %d", created, refused, n-1)
	}
}

// TestRegisterBoundsParsing: with every parsing slot taken, reading a registration waits no
// longer than its context and is refused with ErrBusy, storing nothing; once a slot frees, the
// registration goes through.
func TestRegisterBoundsParsing(t *testing.T) {
	ctx := context.Background()
	svc := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer svc.Close()
	b, err := bus.Open(ctx, bus.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c := openCatalog(t, b, time.Hour)
	for range cap(c.parsing) {
		c.parsing <- struct{}{}
	}
	reg := Registration{Name: "svc", Swagger: jsonText(doc(strings.TrimPrefix(svc.URL, "http://")))}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := c.parseBounded(short, reg, reg.Swagger); !errors.Is(err, ErrBusy) {
		t.Fatalf("parse with every slot taken: %v, want ErrBusy", err)
	}
	if _, ok := c.Get("svc"); ok {
		t.Fatal("a refused registration was stored")
	}
	<-c.parsing
	if res, err := c.Register(ctx, reg, Credentials{}); err != nil || res.Status != StatusRegistered {
		t.Fatalf("register with a free slot: %+v %v", res, err)
	}
}

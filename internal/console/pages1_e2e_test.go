package console_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// signIn opens the console and signs in with token.
func signIn(t *testing.T, b *browser, s *hubtest.Server, token string) {
	t.Helper()
	b.do(t, "watch CSP violations", watchCSP())
	b.open(t, s.URL+"/console/", `input[name=token]`)
	b.fill(t, `input[name=token]`, token)
	b.clickText(t, "Sign in")
	b.waitSel(t, "header .who")
}

// confirm clicks the button of the open confirmation dialog whose text is text.
func (b *browser) confirm(t *testing.T, text string) {
	t.Helper()
	find := fmt.Sprintf(`[...document.querySelectorAll('dialog.confirm[open] button')].find(e => e.textContent.trim() === %s)`, js(text))
	b.waitJS(t, "the dialog's "+text, "!!"+find)
	evalJS[bool](t, b, "confirm "+text, "("+find+").click(), true")
}

// pageHolds says whether the page's markup or any control's value holds text.
func pageHolds(t *testing.T, b *browser, text string) bool {
	t.Helper()
	return evalJS[bool](t, b, "look for "+text, fmt.Sprintf(`document.documentElement.outerHTML.includes(%[1]s) ||
		[...document.querySelectorAll('input, textarea, select')].some(e => String(e.value).includes(%[1]s))`, js(text)))
}

// smsDoc is a service with a configuration form: a plain field, a secret one (format password)
// that the basic scheme sends as the password, a choice and a number.
const smsDoc = `swagger: "2.0"
info: {title: Sms, description: Send text messages., version: "2.1"}
host: "%s"
schemes: [http]
x-exosite-health-path: /health
securityDefinitions:
  account: {type: basic, x-exosite-user-field: AccountSid, x-exosite-secret-field: AuthToken}
security: [{account: []}]
x-events:
  delivered: {description: A message reached the phone}
x-exosite-config-parameters:
  - {name: AccountSid, type: string, required: true, description: The account's id}
  - {name: AuthToken, type: string, format: password, required: true}
  - {name: Region, type: string, enum: [eu, us], default: eu}
  - {name: Retries, type: integer, default: 2}
paths:
  /send:
    post:
      operationId: send
      summary: Send a message
      x-exosite-example: local out = Sms.send({})
      responses: {"200": {description: ok}}
`

// smsHost serves the sms service and keeps the basic credentials of the last call.
type smsHost struct {
	*httptest.Server
	mu         sync.Mutex
	user, pass string
}

func startSMS(t *testing.T, s *hubtest.Server) *smsHost {
	t.Helper()
	h := &smsHost{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/send" {
			u, p, _ := r.BasicAuth()
			h.mu.Lock()
			h.user, h.pass = u, p
			h.mu.Unlock()
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"ok":true}`)) //nolint:errcheck // test peer
	}))
	t.Cleanup(h.Close)
	doc := fmt.Sprintf(smsDoc, strings.TrimPrefix(h.URL, "http://"))
	if r := s.Do(t, "POST", "/api/v1/register/", s.Hub.RegistrationToken(), map[string]any{"name": "sms", "swagger": doc}); r.Status != http.StatusCreated {
		t.Fatalf("register sms: %d %s", r.Status, r.Body)
	}
	return h
}

// credentials calls sms.send from solution sol and returns the credentials the service got.
func (h *smsHost) credentials(t *testing.T, s *hubtest.Server, sol string) (string, string) {
	t.Helper()
	s.Deploy(t, sol, "GET", "/send", `return Sms.send({})`)
	if r := s.Do(t, "GET", "/apps/"+sol+"/send", "", nil); r.Status != http.StatusOK {
		t.Fatalf("call sms.send: %d %s", r.Status, r.Body)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.user, h.pass
}

// The services page: the marketplace shows the service with its health, operations, events
// and example; it is added through the form made from its parameters, its secret reaches the
// service and never shows in the page; an update without the secret keeps it; removing asks.
func TestConsoleServices(t *testing.T) {
	b := newBrowser(t)
	s := hubtest.Start(t)
	sms := startSMS(t, s)
	s.CreateSolution(t, "shop")
	s.CreateSolution(t, "other")
	if r := s.Do(t, "POST", "/api/v1/solutions/other/services", s.AdminToken, map[string]any{"service": "sms",
		"parameters": map[string]any{"AccountSid": "AC-other", "AuthToken": "other-secret-value"}}); r.Status != http.StatusCreated {
		t.Fatalf("add sms to other: %d %s", r.Status, r.Body)
	}

	signIn(t, b, s, s.AdminToken)
	b.open(t, s.URL+"/console/#/solutions/shop/services", "table.market")
	b.waitJS(t, "sms in the marketplace", `[...document.querySelectorAll('table.market tbody tr')].some(r => r.textContent.includes('sms') && r.textContent.includes('delivered'))`)
	b.waitText(t, "No service added yet")
	b.axe(t, "services")
	b.screenshot(t, "services")

	b.clickText(t, "sms")
	b.waitText(t, "Sms.send")
	b.waitText(t, "local out = Sms.send({})")
	b.waitText(t, "sms.delivered")
	if got := evalJS[string](t, b, "the secret's input type", `document.querySelector('input[name=param-AuthToken]').type`); got != "password" {
		t.Errorf("the secret parameter's input is %q, want password", got)
	}
	// A number the parameter's type does not take is refused, naming it, and nothing is added.
	b.fill(t, `input[name=param-AccountSid]`, "AC-shop")
	b.fill(t, `input[name=param-AuthToken]`, "typed-secret-value")
	b.fill(t, `input[name=param-Retries]`, "2.5")
	b.clickText(t, "Add service")
	b.waitText(t, "Retries: want a whole number")
	if r := s.Do(t, "GET", "/api/v1/solutions/shop/services/sms", s.AdminToken, nil); r.Status != http.StatusNotFound {
		t.Fatalf("a refused form added the service: %d %s", r.Status, r.Body)
	}
	b.fill(t, `input[name=param-Retries]`, "3")
	b.clickText(t, "Add service")
	b.waitText(t, "Added sms to shop")
	b.waitText(t, "Remove from shop")
	if pageHolds(t, b, "typed-secret-value") {
		t.Errorf("the secret shows in the page after saving")
	}
	cfg := s.Do(t, "GET", "/api/v1/solutions/shop/services/sms", s.AdminToken, nil).Map(t)
	if p := cfg["parameters"].(map[string]any); p["AccountSid"] != "AC-shop" || p["Retries"] != 3.0 || p["Region"] != "eu" {
		t.Errorf("parameters saved: %v", p)
	}
	if u, p := sms.credentials(t, s, "shop"); u != "AC-shop" || p != "typed-secret-value" {
		t.Errorf("the service got %q:%q, want AC-shop:typed-secret-value", u, p)
	}
	b.axe(t, "service detail")
	b.screenshot(t, "service")

	// An update leaves the secret empty: kept.
	b.fill(t, `input[name=param-AccountSid]`, "AC-shop-2")
	b.clickText(t, "Save")
	b.waitText(t, "Saved.")
	if u, p := sms.credentials(t, s, "shop"); u != "AC-shop-2" || p != "typed-secret-value" {
		t.Errorf("after an update without the secret the service got %q:%q", u, p)
	}
	if pageHolds(t, b, "typed-secret-value") || pageHolds(t, b, "other-secret-value") || pageHolds(t, b, "AC-other") {
		t.Errorf("a secret, or another solution's configuration, shows in the page")
	}

	// Removing asks first; cancelled, the service stays.
	b.clickText(t, "Remove from shop")
	b.waitSel(t, "dialog.confirm[open]")
	b.clickText(t, "Cancel")
	if r := s.Do(t, "GET", "/api/v1/solutions/shop/services/sms", s.AdminToken, nil); r.Status != http.StatusOK {
		t.Fatalf("a cancelled removal removed: %d", r.Status)
	}
	b.clickText(t, "Remove from shop")
	b.confirm(t, "Remove service")
	b.waitText(t, "No service added yet")
	if r := s.Do(t, "GET", "/api/v1/solutions/shop/services/sms", s.AdminToken, nil); r.Status != http.StatusNotFound {
		t.Errorf("after removal: %d %s", r.Status, r.Body)
	}
	b.checkClean(t)
}

// The Keystore page: keys listed a page at a time across every page, found by pattern; a key
// set with a TTL shows its value as text (markup in it stays text) and its expiry; deleting asks.
func TestConsoleKeystore(t *testing.T) {
	b := newBrowser(t)
	s := hubtest.Start(t)
	s.CreateSolution(t, "shop")
	s.CreateSolution(t, "other")
	put := func(sol, key string, body map[string]any) {
		t.Helper()
		if r := s.Do(t, "PUT", "/api/v1/solutions/"+sol+"/keystore/keys/"+key, s.AdminToken, body); r.Status != http.StatusOK {
			t.Fatalf("put %s/%s: %d %s", sol, key, r.Status, r.Body)
		}
	}
	put("other", "user:99", map[string]any{"value": "other's value"})
	const users = 30
	for i := range users {
		put("shop", fmt.Sprintf("user:%02d", i), map[string]any{"value": fmt.Sprintf("user %d", i)})
	}

	signIn(t, b, s, s.AdminToken)
	b.open(t, s.URL+"/console/#/solutions/shop/keystore", "table.keys")
	b.waitText(t, fmt.Sprintf("%d of ", users))
	// Every key, once, a page at a time.
	seen := map[string]bool{}
	for page := 0; ; page++ {
		if page > users {
			t.Fatalf("more pages than keys: %v", seen)
		}
		b.waitJS(t, "a page of keys", `document.querySelectorAll('table.keys tbody tr a').length > 0 && !document.body.innerText.includes('Loading…')`)
		for _, k := range evalJS[[]string](t, b, "the keys listed", `[...document.querySelectorAll('table.keys tbody tr a')].map(a => a.textContent)`) {
			if seen[k] {
				t.Errorf("key %s listed twice", k)
			}
			seen[k] = true
		}
		if evalJS[bool](t, b, "is there a next page", `[...document.querySelectorAll('button')].find(e => e.textContent.trim() === 'Next page').disabled`) {
			break
		}
		first := evalJS[string](t, b, "the first key", `document.querySelector('table.keys tbody tr a').textContent`)
		b.clickText(t, "Next page")
		b.waitJS(t, "the next page", `document.querySelector('table.keys tbody tr a') && document.querySelector('table.keys tbody tr a').textContent !== `+js(first))
	}
	if len(seen) != users || seen["user:99"] {
		t.Errorf("keys listed over the pages: %d %v", len(seen), seen)
	}
	b.axe(t, "keystore")

	// A key set with a TTL: its value is text, its expiry shown.
	b.fill(t, `input[name=set-key]`, "session:1")
	b.fill(t, `textarea[name=set-value]`, "<b id=injected>hello</b>")
	b.fill(t, `input[name=set-ttl]`, "600")
	b.clickText(t, "Save value")
	b.waitSel(t, "pre.key-value")
	if got := b.text(t, "pre.key-value"); got != "<b id=injected>hello</b>" {
		t.Errorf("value shown %q", got)
	}
	if evalJS[bool](t, b, "look for markup made of the value", `!!document.getElementById('injected')`) {
		t.Errorf("the value was rendered as HTML")
	}
	if ttl := b.text(t, ".key-ttl"); !strings.HasPrefix(ttl, "expires in 9m") && ttl != "expires in 10m" {
		t.Errorf("expiry shown %q", ttl)
	}
	got := s.Do(t, "GET", "/api/v1/solutions/shop/keystore/keys/session:1", s.AdminToken, nil).Map(t)
	if ttl, _ := got["ttl"].(float64); got["value"] != "<b id=injected>hello</b>" || ttl < 1 || ttl > 600 {
		t.Errorf("stored: %v", got)
	}
	b.axe(t, "keystore key")
	b.screenshot(t, "keystore")

	// Found by pattern.
	b.fill(t, `input[name=match]`, "session:*")
	b.clickText(t, "Find keys")
	b.waitJS(t, "the pattern's one key", `(() => { const a = [...document.querySelectorAll('table.keys tbody tr a')]; return a.length === 1 && a[0].textContent === 'session:1'; })()`)

	// Edited without a TTL: the expiry is cleared, as Keystore.set does.
	b.fill(t, `.key-view textarea[name=set-value]`, "hello again")
	b.clickText(t, "Save value")
	b.waitJS(t, "the new value", `document.querySelector('pre.key-value').textContent === 'hello again' && document.querySelector('.key-ttl').textContent === 'no expiry'`)

	// Deleting asks first.
	b.clickText(t, "Delete key")
	b.waitSel(t, "dialog.confirm[open]")
	b.clickText(t, "Cancel")
	if r := s.Do(t, "GET", "/api/v1/solutions/shop/keystore/keys/session:1", s.AdminToken, nil); r.Status != http.StatusOK {
		t.Fatalf("a cancelled delete deleted: %d", r.Status)
	}
	b.clickText(t, "Delete key")
	b.confirm(t, "Delete key")
	b.waitText(t, "No keys match session:*")
	if r := s.Do(t, "GET", "/api/v1/solutions/shop/keystore/keys/session:1", s.AdminToken, nil); r.Status != http.StatusNotFound {
		t.Errorf("after delete: %d %s", r.Status, r.Body)
	}
	b.checkClean(t)
}

// choose picks value in the select labelled label, as a user would.
func (b *browser) choose(t *testing.T, label, value string) {
	t.Helper()
	find := fmt.Sprintf(`[...document.querySelectorAll('label')].find(l => l.textContent.trim() === %s)`, js(label))
	b.waitJS(t, "the select "+label, "!!"+find)
	evalJS[bool](t, b, "choose "+value, fmt.Sprintf(`(() => {
		const el = document.getElementById((%s).htmlFor);
		el.value = %s;
		el.dispatchEvent(new Event('change', {bubbles: true}));
		return el.value === %[2]s;
	})()`, find, js(value)))
}

// The connectors page: a cron connector created through the form runs, is paused and resumed
// (the API agrees each time), shows its detail, and is deleted after a confirmation.
func TestConsoleConnectors(t *testing.T) {
	b := newBrowser(t)
	s := hubtest.Start(t)
	s.CreateSolution(t, "shop")
	s.CreateSolution(t, "other")
	if r := s.Do(t, "POST", "/api/v1/solutions/other/connectors", s.AdminToken, map[string]any{"name": "other-tick", "type": "cron",
		"topic": "ticks", "config": map[string]any{"schedule": "@hourly"}}); r.Status != http.StatusCreated {
		t.Fatalf("create other's connector: %d %s", r.Status, r.Body)
	}
	paused := func() bool {
		t.Helper()
		r := s.Do(t, "GET", "/api/v1/solutions/shop/connectors/tick", s.AdminToken, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("get tick: %d %s", r.Status, r.Body)
		}
		return r.Map(t)["paused"] == true
	}

	signIn(t, b, s, s.AdminToken)
	b.open(t, s.URL+"/console/#/solutions/shop/connectors", "table.connectors")
	b.waitText(t, "No connectors yet.")
	b.fill(t, `input[name=conn-name]`, "tick")
	b.choose(t, "Type", "cron")
	b.fill(t, `input[name=conn-topic]`, "ticks.second")
	b.fill(t, `textarea[name=conn-config]`, `{"schedule": "@every 1s"`)
	b.clickText(t, "Create connector")
	b.waitText(t, "config: want a JSON object")
	b.fill(t, `textarea[name=conn-config]`, `{"schedule": "@every 1s"}`)
	b.clickText(t, "Create connector")
	b.waitSel(t, ".connector-detail .conn-config")
	b.waitJS(t, "tick running", `(() => { const r = document.querySelector('tr[data-name=tick]'); return !!r && r.textContent.includes('running'); })()`)
	if paused() {
		t.Fatalf("a new connector is paused")
	}
	b.axe(t, "connectors")
	b.screenshot(t, "connectors")

	b.clickText(t, "Pause")
	b.waitJS(t, "tick paused", `document.querySelector('tr[data-name=tick]').textContent.includes('paused') && document.querySelector('.connector-detail').textContent.includes('paused')`)
	if !paused() {
		t.Errorf("the API says tick is not paused")
	}
	b.clickText(t, "Resume")
	b.waitJS(t, "tick running again", `document.querySelector('tr[data-name=tick]').textContent.includes('running') && !document.querySelector('.connector-detail').textContent.includes('paused')`)
	if paused() {
		t.Errorf("the API says tick is still paused")
	}
	if pageHolds(t, b, "other-tick") {
		t.Errorf("another solution's connector shows")
	}

	b.clickText(t, "Delete connector")
	b.waitSel(t, "dialog.confirm[open]")
	b.clickText(t, "Cancel")
	if r := s.Do(t, "GET", "/api/v1/solutions/shop/connectors/tick", s.AdminToken, nil); r.Status != http.StatusOK {
		t.Fatalf("a cancelled delete deleted: %d", r.Status)
	}
	b.clickText(t, "Delete connector")
	b.confirm(t, "Delete connector")
	b.waitText(t, "No connectors yet.")
	if r := s.Do(t, "GET", "/api/v1/solutions/shop/connectors/tick", s.AdminToken, nil); r.Status != http.StatusNotFound {
		t.Errorf("after delete: %d %s", r.Status, r.Body)
	}
	b.checkClean(t)
}

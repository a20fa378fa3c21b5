package console_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
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

// destroyAfterConfirm clicks button, cancels the confirmation (what path names is still
// there), clicks it again and confirms with confirmLabel: the page says after, and path is gone.
func (b *browser) destroyAfterConfirm(t *testing.T, s *hubtest.Server, button, confirmLabel, after, path string) {
	t.Helper()
	b.clickText(t, button)
	b.waitSel(t, "dialog.confirm[open]")
	b.clickText(t, "Cancel")
	if r := s.Do(t, "GET", path, s.AdminToken, nil); r.Status != http.StatusOK {
		t.Fatalf("%s, cancelled, destroyed %s anyway: %d", button, path, r.Status)
	}
	b.clickText(t, button)
	b.confirm(t, confirmLabel)
	b.waitText(t, after)
	if r := s.Do(t, "GET", path, s.AdminToken, nil); r.Status != http.StatusNotFound {
		t.Errorf("%s after %s confirmed: %d %s", path, button, r.Status, r.Body)
	}
}

// holdsJS is a script saying whether the page's markup or any control's value holds text.
func holdsJS(text string) string {
	return fmt.Sprintf(`document.documentElement.outerHTML.includes(%[1]s) ||
		[...document.querySelectorAll('input, textarea, select')].some(e => String(e.value).includes(%[1]s))`, js(text))
}

// pageHolds says whether the page's markup or any control's value holds text.
func pageHolds(t *testing.T, b *browser, text string) bool {
	t.Helper()
	return evalJS[bool](t, b, "look for "+text, holdsJS(text))
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

	// Called from an endpoint written in the console, run once there: the service answers.
	b.open(t, s.URL+"/console/#/solutions/shop/endpoints?new=1", ".cm-editor")
	b.fill(t, `input[name=path]`, "/text")
	b.setEditor(t, "return Sms.send({})\n")
	b.waitJS(t, "the check passing", `!!document.querySelector('.check-ok')`)
	b.clickText(t, "Run")
	b.waitJS(t, "the service's answer", `!!document.querySelector('.run-body') && document.querySelector('.run-body').textContent.includes('"ok"') && document.querySelector('.run-status').textContent === '200'`)
	b.open(t, s.URL+"/console/#/solutions/shop/services/sms", `input[name=param-AccountSid]`)

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
	b.destroyAfterConfirm(t, s, "Remove from shop", "Remove service", "No service added yet", "/api/v1/solutions/shop/services/sms")
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

	b.destroyAfterConfirm(t, s, "Delete connector", "Delete connector", "No connectors yet.", "/api/v1/solutions/shop/connectors/tick")
	b.checkClean(t)
}

// gql posts a GraphQL request as token in solution sol and returns its data, failing on errors.
func gql(t *testing.T, s *hubtest.Server, token, sol, query string, vars map[string]any) map[string]any {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/api/v1/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-Switchboard-Solution", sol)
	r := s.Send(t, req)
	var a struct {
		Data   map[string]any
		Errors []any
	}
	if err := json.Unmarshal(r.Body, &a); err != nil || r.Status != http.StatusOK || len(a.Errors) > 0 {
		t.Fatalf("graphql: %d %s", r.Status, r.Body)
	}
	return a.Data
}

// registerApp registers application name in sol with a YAML and a JSON event API.
func registerApp(t *testing.T, s *hubtest.Server, sol, name string) string {
	t.Helper()
	yamlSpec := "asyncapi: 2.0.0\ninfo: {title: Commerce events, version: '1.0'}\nchannels:\n  order/created/v1:\n    subscribe:\n      message:\n        name: OrderCreated\n        payload:\n          type: object\n          required: [orderId]\n          properties:\n            orderId: {type: string}\n"
	jsonSpec := `{"asyncapi":"2.0.0","info":{"title":"Shipping","version":"1"},"channels":{"order/shipped/v1":{"subscribe":{"message":{"name":"OrderShipped","payload":{"type":"object","required":["trackingId"]}}}}}}`
	in := map[string]any{"name": name, "description": "The shop's orders", "eventAPIs": []any{
		map[string]any{"name": "orders", "group": "orders", "spec": map[string]any{"eventSpecType": "ASYNC_API", "data": yamlSpec}, "version": map[string]any{"value": "v1"}},
		map[string]any{"name": "shipping", "group": "shipping", "spec": map[string]any{"eventSpecType": "ASYNC_API", "data": jsonSpec}},
	}}
	d := gql(t, s, s.AdminToken, sol, `mutation($in: ApplicationInput!) { registerApplication(in: $in) { id } }`, map[string]any{"in": in})
	return d["registerApplication"].(map[string]any)["id"].(string)
}

// The Kyma applications page: an application's event APIs with their specs as text and their
// channels as a table; client credentials requested once, shown once, and working.
func TestConsoleApplications(t *testing.T) {
	b := newBrowser(t)
	s := hubtest.Start(t)
	s.CreateSolution(t, "shop")
	s.CreateSolution(t, "other")
	registerApp(t, s, "other", "othersapp")
	id := registerApp(t, s, "shop", "commerce")

	signIn(t, b, s, s.AdminToken)
	b.open(t, s.URL+"/console/#/solutions/shop/applications", "table.apps")
	b.waitText(t, "commerce")
	if pageHolds(t, b, "othersapp") {
		t.Errorf("another solution's application is listed")
	}
	b.clickText(t, "commerce")
	b.waitSel(t, "table.channels")
	b.waitJS(t, "the YAML spec's channel", `[...document.querySelectorAll('table.channels tr')].some(r => r.textContent.includes('order/created/v1') && r.textContent.includes('commerce.order.created.v1') && r.textContent.includes('OrderCreated') && r.textContent.includes('required: orderId'))`)
	b.waitJS(t, "the JSON spec's channel", `[...document.querySelectorAll('table.channels tr')].some(r => r.textContent.includes('commerce.order.shipped.v1') && r.textContent.includes('required: trackingId'))`)
	specs := evalJS[[]string](t, b, "the specs shown", `[...document.querySelectorAll('pre.spec')].map(p => p.textContent)`)
	if len(specs) != 2 || !strings.Contains(specs[0], "order/created/v1:\n    subscribe:") || !strings.Contains(specs[1], "{\n  \"asyncapi\": \"2.0.0\",") {
		t.Errorf("specs shown: %q", specs)
	}
	b.waitText(t, "None issued yet.")
	b.axe(t, "applications")

	b.clickText(t, "Request client credentials")
	b.waitSel(t, ".client-secret")
	clientID, secret := b.text(t, ".client-id"), b.text(t, ".client-secret")
	if !strings.HasPrefix(clientID, "sbc_") || !strings.HasPrefix(secret, "sbcs_") {
		t.Fatalf("credentials shown: %q %q", clientID, secret)
	}
	b.waitJS(t, "the credential listed", `document.body.innerText.includes('Credentials issued: `+clientID+`')`)
	b.axe(t, "applications (credentials)")
	b.screenshot(t, "applications")
	// They work at the token endpoint.
	req, _ := http.NewRequest("POST", s.URL+"/oauth2/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	if r := s.Send(t, req); r.Status != http.StatusOK {
		t.Errorf("the credentials shown were refused: %d %s", r.Status, r.Body)
	}
	// Kept nowhere: not in storage, and gone once the page is loaded again.
	stored := evalJS[string](t, b, "the tab's storage", `JSON.stringify({...sessionStorage}) + JSON.stringify({...localStorage}) + document.cookie`)
	if strings.Contains(stored, secret) {
		t.Errorf("the secret is kept in the tab: %s", stored)
	}
	b.clickText(t, "Hide the credentials")
	b.waitJS(t, "the secret gone", `!document.querySelector('.client-secret')`)
	if pageHolds(t, b, secret) {
		t.Errorf("the secret is still in the page once hidden")
	}
	b.open(t, s.URL+"/console/#/solutions/shop/applications?app="+url.QueryEscape(id), ".app-detail h2")
	b.waitText(t, "Credentials issued: "+clientID)
	if pageHolds(t, b, secret) {
		t.Errorf("the secret shows again")
	}

	// The reader of YAML specs (the yaml library), on what AsyncAPI documents hold.
	laughs := "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
	for i := 1; i < 10; i++ {
		laughs += fmt.Sprintf("a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	type yamlCase struct {
		Src  string `json:"src"`
		Want string `json:"want"`
	}
	for _, tc := range []yamlCase{
		{"a: 1\nb: [x, 'y z', \"q\"]\n", `{"a":1,"b":["x","y z","q"]}`},
		{"# c\nm:\n  k: {t: string, r: [a]}  # note\n  s: |\n    one\n    two\n", `{"m":{"k":{"t":"string","r":["a"]},"s":"one\ntwo\n"}}`},
		{"l:\n- a\n- n: b\n  o: c\n", `{"l":["a",{"n":"b","o":"c"}]}`},
		{"\"x/y\": ~\n'a''b': true\n", `{"x/y":null,"a'b":true}`},
		{"__proto__: {polluted: 1}\n", `{"__proto__":{"polluted":1}}`},
		{"a: &x 1\nb: *x\n", `{"a":1,"b":1}`},
		{"a: 1\na: 2\n", "error"}, // a key twice
		{"a: [" + strings.Repeat("\n", 5000) + "b: 1\n", "error"},
		{laughs, "error"}, // aliases expanding without end
	} {
		got := evalJS[string](t, b, "parse "+tc.Src, `import('/console/pages/applications.js').then(m => { try { return JSON.stringify(m.parseYAML(`+js(tc.Src)+`)) } catch (e) { return 'error' } })`)
		if got != tc.Want {
			t.Errorf("parseYAML(%q) = %s, want %s", tc.Src, got, tc.Want)
		}
	}
	if evalJS[bool](t, b, "look for pollution", `({}).polluted !== undefined`) {
		t.Errorf("a __proto__ key polluted Object.prototype")
	}
	b.checkClean(t)
}

// A solution's token on these pages: its own data only, and another solution's pages refused.
func TestConsolePages1Isolation(t *testing.T) {
	b := newBrowser(t)
	s := hubtest.Start(t)
	tok := s.CreateSolution(t, "shop")
	s.CreateSolution(t, "other")
	startSMS(t, s)
	for _, sol := range []string{"shop", "other"} {
		if r := s.Do(t, "POST", "/api/v1/solutions/"+sol+"/services", s.AdminToken, map[string]any{"service": "sms",
			"parameters": map[string]any{"AccountSid": "AC-" + sol, "AuthToken": sol + "-secret"}}); r.Status != http.StatusCreated {
			t.Fatalf("add sms to %s: %d %s", sol, r.Status, r.Body)
		}
		if r := s.Do(t, "PUT", "/api/v1/solutions/"+sol+"/keystore/keys/key-"+sol, s.AdminToken, map[string]any{"value": "value-" + sol}); r.Status != http.StatusOK {
			t.Fatalf("put a key in %s: %d %s", sol, r.Status, r.Body)
		}
		if r := s.Do(t, "POST", "/api/v1/solutions/"+sol+"/connectors", s.AdminToken, map[string]any{"name": "conn-" + sol, "type": "cron",
			"topic": "ticks", "config": map[string]any{"schedule": "@hourly"}}); r.Status != http.StatusCreated {
			t.Fatalf("create a connector in %s: %d %s", sol, r.Status, r.Body)
		}
		registerApp(t, s, sol, "app-"+sol)
	}

	signIn(t, b, s, tok)
	for _, p := range []struct{ page, sel, own string }{
		{"services/sms", "form", "AC-shop"},
		{"keystore", "table.keys", "key-shop"},
		{"connectors", "table.connectors", "conn-shop"},
		{"applications", "table.apps", "app-shop"},
	} {
		b.open(t, s.URL+"/console/#/solutions/shop/"+p.page, p.sel)
		b.waitJS(t, p.own, holdsJS(p.own))
		for _, leak := range []string{"AC-other", "other-secret", "shop-secret", "key-other", "conn-other", "app-other"} {
			if pageHolds(t, b, leak) {
				t.Errorf("%s shows %q", p.page, leak)
			}
		}
		b.open(t, s.URL+"/console/#/solutions/other/"+p.page, "main h1")
		b.waitText(t, "Not your solution")
		for _, leak := range []string{"AC-other", "key-other", "conn-other", "app-other"} {
			if pageHolds(t, b, leak) {
				t.Errorf("other's %s shows %q", p.page, leak)
			}
		}
	}
	// The GraphQL API the page uses refuses the other solution too.
	status := evalJS[int](t, b, "ask for another solution's applications", `fetch('/api/v1/graphql', {method: 'POST', headers: {'Content-Type': 'application/json',
		'X-Switchboard-Solution': 'other', Authorization: 'Bearer ' + sessionStorage.getItem('switchboard.console.token')},
		body: JSON.stringify({query: '{ applications { data { name } } }'})}).then(r => r.status)`)
	if status != http.StatusForbidden {
		t.Errorf("another solution's applications with the console's token: %d, want 403", status)
	}
	b.checkClean(t)
}

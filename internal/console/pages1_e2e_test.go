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
	b.clickText(t, "Remove service")
	b.waitText(t, "No service added yet")
	if r := s.Do(t, "GET", "/api/v1/solutions/shop/services/sms", s.AdminToken, nil); r.Status != http.StatusNotFound {
		t.Errorf("after removal: %d %s", r.Status, r.Body)
	}
	b.checkClean(t)
}

package murano_test

import (
	"encoding/base64"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// TestMuranoSMSRestrictedAccountBasicAuthForm: Murano's SMS example, with the names Murano's
// README uses now and with the older short ones. The restricted AccountSid path parameter takes
// the configured value whatever the script passes, basic authentication is built from the
// fields the scheme names, and the body is the form the document consumes.
func TestMuranoSMSRestrictedAccountBasicAuthForm(t *testing.T) {
	t.Parallel()
	const (
		sid   = "AC0123456789abcdef0123456789abcdef"
		token = "sms-auth-token-9d41"
	)
	for _, tc := range []struct{ name, file string }{
		{"current extension names", "sms.yaml"},
		{"short extension names", "sms-legacy.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := start(t, "sms", tc.file, "/health")
			m.mustAdd(t, map[string]any{"AccountSid": sid, "AuthToken": token})
			m.svc.none(t, "adding a service without x-exosite-init")

			r := m.call(t, `return Sms.postMessage({AccountSid = "ACother", To = "+17635551234", From = "+16125550923", Body = "Your device is in an error state."})`)
			wantRequest(t, r, "POST", "/accounts/"+sid+"/messages.json", nil)
			if want := "Basic " + base64.StdEncoding.EncodeToString([]byte(sid+":"+token)); r.Header.Get("Authorization") != want {
				t.Errorf("Authorization %q, want %q (basic from x-exosite-user-field and x-exosite-secret-field)", r.Header.Get("Authorization"), want)
			}
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
				t.Errorf("Content-Type %q, want application/x-www-form-urlencoded (the document's consumes)", ct)
			}
			form, err := url.ParseQuery(string(r.Body))
			if err != nil {
				t.Fatalf("body %q is not a form: %v", r.Body, err)
			}
			want := url.Values{"To": {"+17635551234"}, "From": {"+16125550923"}, "Body": {"Your device is in an error state."}}
			if !reflect.DeepEqual(form, want) {
				t.Errorf("form %v, want %v", form, want)
			}

			for _, tok := range []string{m.hub.AdminToken, m.solTok} {
				if g := m.hub.Do(t, "GET", "/api/v1/solutions/demo/services/sms", tok, nil); strings.Contains(string(g.Body), token) {
					t.Errorf("GET the solution's service shows AuthToken: %s", g.Body)
				}
			}
			if strings.Contains(m.hub.Logs.String(), token) {
				t.Errorf("the hub logged AuthToken")
			}
		})
	}
}

// TestMuranoStorageInjectsSolutionID: in Murano's storage example (short names), the
// x-from: solution_id, x-internalUse path parameter is the calling solution's id whatever the
// script passes; an object body's properties are the call's arguments; x-internalUse
// operations cannot be called from scripts.
func TestMuranoStorageInjectsSolutionID(t *testing.T) {
	t.Parallel()
	m := start(t, "storage", "storage.yaml", "/health")
	m.mustAdd(t, map[string]any{"retention": 30})
	m.svc.take()

	set := m.call(t, `return Storage.setData({data = "hello", solution_id = "other"})`)
	wantRequest(t, set, "POST", "/demo/data", nil)
	wantJSONBody(t, set, `{"data":"hello"}`)

	m.svc.answer("GET", "/demo/data", answer{status: 200, body: `{"data":"hello"}`})
	r := m.run(t, `return Storage.getData()`)
	wantRequest(t, m.svc.one(t, "getData"), "GET", "/demo/data", nil)
	if r.Status != 200 || string(r.Body) != `{"data":"hello"}` {
		t.Errorf("getData answered %d %s, want the service's answer", r.Status, r.Body)
	}

	for _, op := range []string{"createSolution", "updateSolution", "delSolution", "getSolution"} {
		// With every argument given, only the restriction keeps the call from the service.
		m.run(t, `return Storage.`+op+`({solution_id = "demo", settings = {region = "eu-west"}})`)
		m.svc.none(t, "x-internalUse operation "+op+" called from a script")
	}
}

// TestMuranoFromSourcesInjected: x-exosite-from fills parameters from the calling solution
// (solution_id, domain, business_id) on the path, the query and a header, over what the script
// passes; a path parameter named like a configuration parameter takes the configured value.
func TestMuranoFromSourcesInjected(t *testing.T) {
	t.Parallel()
	m := start(t, "context", "context.yaml", "/health")
	m.mustAdd(t, map[string]any{"region": "ap-south"})

	r := m.call(t, `return Context.whoami({sid = "other", domain = "evil.example", ["X-Business"] = "other", note = "hi"})`)
	wantRequest(t, r, "GET", "/context/demo", map[string][]string{"domain": {"demo." + appsDomain}, "note": {"hi"}})
	if got := r.Header.Get("X-Business"); got != "demo" {
		t.Errorf("X-Business %q, want demo (business_id is the solution on Switchboard)", got)
	}

	r = m.call(t, `return Context.byRegion({region = "us-east"})`)
	wantRequest(t, r, "GET", "/regions/ap-south", nil)
}

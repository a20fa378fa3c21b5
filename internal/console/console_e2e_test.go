package console_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/console"
	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// The walkthrough of the console in a real browser: sign in, create a solution, write an
// endpoint with a syntax error (its line marked), fix it, deploy it, run it, see its log line
// arrive live and jump to a failure by its error id; every page passes axe-core; a solution's
// token sees nothing of another solution.
func TestConsoleInBrowser(t *testing.T) {
	b := newBrowser(t)
	s := hubtest.Start(t)
	s.CreateSolution(t, "other")
	s.Deploy(t, "other", "GET", "/secret", `return {secret = "other's"}`)

	b.do(t, "watch CSP violations", watchCSP())
	b.open(t, s.URL+"/console/", `input[name=token]`)
	b.axe(t, "sign-in")
	b.screenshot(t, "signin")

	// A wrong token is refused, with the API's message.
	b.fill(t, `input[name=token]`, "not-a-token-at-all")
	b.clickText(t, "Sign in")
	b.waitText(t, "unknown token")

	b.fill(t, `input[name=token]`, s.AdminToken)
	b.clickText(t, "Sign in")
	b.waitText(t, "Create a solution")
	b.waitText(t, "other")

	b.fill(t, `input[name=id]`, "demo")
	b.clickText(t, "Create")
	token := b.text(t, `#new-token`)
	if !strings.HasPrefix(token, "sbs_") {
		t.Fatalf("token %q", token)
	}
	b.axe(t, "solutions")
	b.screenshot(t, "solutions")

	b.open(t, s.URL+"/console/#/solutions/demo", "main h1")
	b.waitText(t, "Limits and settings")
	b.fill(t, `input[placeholder=default]`, "5000")
	b.clickText(t, "Save")
	b.waitText(t, "Saved.")
	if got := s.Do(t, "GET", "/api/v1/solutions/demo", s.AdminToken, nil).Map(t)["limits"].(map[string]any)["timeout_ms"]; got != 5000.0 {
		t.Errorf("timeout_ms after saving: %v", got)
	}
	b.axe(t, "solution")
	b.screenshot(t, "solution")

	// An endpoint with a syntax error on line 3: marked there before anything is deployed.
	b.open(t, s.URL+"/console/#/solutions/demo/endpoints?new=1", ".cm-editor")
	b.fill(t, `input[name=path]`, "/hello")
	b.setEditor(t, "local greeting = \"hello\"\nprint(\"answering \" .. greeting)\nlocal x = = 1\nreturn {greeting = greeting}\n")
	b.waitJS(t, "the error marked at line 3", `(() => {
		const mark = document.querySelector('.cm-lintRange-error');
		if (!mark) return false;
		const line = mark.closest('.cm-line');
		return [...document.querySelectorAll('.cm-content .cm-line')].indexOf(line) === 2 && line.textContent === 'local x = = 1';
	})()`)
	b.waitText(t, "line 3")
	b.clickText(t, "Deploy")
	b.waitText(t, "line 3")
	if r := s.Do(t, "GET", "/api/v1/solutions/demo/endpoints", s.AdminToken, nil); strings.Contains(string(r.Body), "/hello") {
		t.Fatalf("a script with a syntax error was deployed: %s", r.Body)
	}
	b.axe(t, "endpoints (error marked)")
	b.screenshot(t, "endpoint-error")

	b.setEditor(t, "local greeting = \"hello\"\nprint(\"answering \" .. greeting)\nreturn {greeting = greeting}\n")
	b.waitJS(t, "the mark gone", `!document.querySelector('.cm-lintRange-error') && !!document.querySelector('.check-ok')`)
	b.clickText(t, "Deploy")
	b.waitText(t, ", version ")
	if r := s.Do(t, "GET", "/apps/demo/hello", "", nil); r.Status != http.StatusOK || !strings.Contains(string(r.Body), "hello") {
		t.Fatalf("the deployed endpoint answered %d %s", r.Status, r.Body)
	}

	b.clickText(t, "Run")
	b.waitJS(t, "the run's answer", `!!document.querySelector('.run-body') && document.querySelector('.run-body').textContent.includes('"greeting"')`)
	logs, status, took, mem := b.text(t, ".run-logs"), b.text(t, ".run-status"), b.text(t, ".run-time"), b.text(t, ".run-memory")
	if !strings.Contains(logs, "answering hello") || status != "200" || !strings.Contains(took, "ms") || !strings.Contains(mem, "B") {
		t.Errorf("run: logs %q, status %q, time %q, memory %q", logs, status, took, mem)
	}
	b.axe(t, "endpoints (run)")
	b.screenshot(t, "endpoints")

	// The log, live: a request made now shows up without a reload.
	b.open(t, s.URL+"/console/#/solutions/demo/logs", "main h1")
	b.waitText(t, "Following live")
	s.Deploy(t, "demo", "GET", "/fail", "print(\"about to fail\")\nlocal t = nil\nreturn t.field\n")
	fail := s.Do(t, "GET", "/apps/demo/fail", "", nil)
	errorID, _ := fail.Map(t)["error_id"].(string)
	if fail.Status != http.StatusInternalServerError || errorID == "" {
		t.Fatalf("failing endpoint: %d %s", fail.Status, fail.Body)
	}
	b.waitJS(t, "the log line arriving live", `[...document.querySelectorAll('.logs .entry')].some(e => e.textContent.includes('about to fail') && e.textContent.includes('endpoint GET /fail'))`)
	b.fill(t, `input[name=text]`, "about to")
	b.waitJS(t, "the text filter", `[...document.querySelectorAll('.logs .entry')].every(e => e.textContent.includes('about to'))`)
	b.fill(t, `input[name=error-id]`, errorID)
	b.clickText(t, "Go to entry")
	b.waitJS(t, "the error's entry", `!!document.querySelector('.entry-detail') && document.querySelector('.entry-detail').textContent.includes(`+js(errorID)+`) && document.querySelector('.detail-message').textContent.includes('field')`)
	b.axe(t, "logs")
	b.screenshot(t, "logs")

	// Handlers: one with a syntax error is marked too; a good one deploys.
	b.open(t, s.URL+"/console/#/solutions/demo/handlers?new=1", ".cm-editor")
	b.fill(t, `input[name=name]`, "orders")
	b.fill(t, `input[name=topics]`, "orders.created")
	b.setEditor(t, "print(event.topic)\nif then\n")
	b.waitJS(t, "the handler's error marked", `!!document.querySelector('.cm-lintRange-error, .cm-lintPoint-error')`)
	b.setEditor(t, "print(event.topic)\n")
	b.waitJS(t, "the check passing", `!!document.querySelector('.check-ok')`)
	b.clickText(t, "Deploy")
	b.waitText(t, ", version ")
	b.axe(t, "handlers")
	b.screenshot(t, "handlers")

	// Deleting asks first; cancelled, nothing is deleted.
	b.open(t, s.URL+"/console/#/solutions/demo/endpoints?method=GET&path=/hello", ".cm-editor")
	b.clickText(t, "Delete")
	b.waitSel(t, "dialog.confirm[open]")
	b.axe(t, "confirm dialog")
	b.clickText(t, "Cancel")
	if r := s.Do(t, "GET", "/apps/demo/hello", "", nil); r.Status != http.StatusOK {
		t.Fatalf("cancelled delete deleted: %d", r.Status)
	}
	b.checkClean(t)

	// A solution's token: its solution alone, in the UI and in the API calls it makes.
	b.clickText(t, "Sign out")
	b.fill(t, `input[name=token]`, token)
	b.clickText(t, "Sign in")
	b.waitText(t, "Solution demo")
	b.open(t, s.URL+"/console/#/solutions", "main h1")
	b.waitJS(t, "the list", `document.querySelectorAll('main tbody tr').length === 1`)
	b.waitText(t, "demo")
	listed := b.text(t, "main table")
	if strings.Contains(listed, "other") {
		t.Errorf("a solution token's list shows another solution: %q", listed)
	}
	b.open(t, s.URL+"/console/#/solutions/other/endpoints", "main h1")
	b.waitText(t, "Not your solution")
	mainText := b.text(t, "main")
	if strings.Contains(mainText, "/secret") {
		t.Errorf("another solution's endpoint shown: %q", mainText)
	}
	status2 := evalJS[int](t, b, "ask the API for another's endpoints with the console's token",
		`fetch('/api/v1/solutions/other/endpoints', {headers: {Authorization: 'Bearer ' + sessionStorage.getItem('switchboard.console.token')}}).then(r => r.status)`)
	if status2 != http.StatusForbidden {
		t.Errorf("another solution's endpoints with the console's token: %d, want 403", status2)
	}
	type place struct {
		Cookie string `json:"cookie"`
		URL    string `json:"url"`
		Stored bool   `json:"stored"`
	}
	where := evalJS[place](t, b, "where the token is", `({cookie: document.cookie, url: location.href, stored: sessionStorage.getItem('switchboard.console.token') === `+js(token)+`})`)
	if where.Cookie != "" || strings.Contains(where.URL, token) || !where.Stored {
		t.Errorf("token: cookie %q, url %q, in sessionStorage %v", where.Cookie, where.URL, where.Stored)
	}
	b.axe(t, "not your solution")
	b.checkClean(t)

	// A new token for the solution, asked for with its own: after a confirmation, shown once;
	// the old one is refused from then on, and the console goes on with the new one.
	b.open(t, s.URL+"/console/#/solutions/demo", "main h1")
	b.clickText(t, "New token")
	b.waitSel(t, "dialog.confirm[open]")
	evalJS[bool](t, b, "confirm the new token", `document.querySelector('dialog.confirm[open] button.danger').click(), true`)
	rotated := b.text(t, "#rotated-token")
	if !strings.HasPrefix(rotated, "sbs_") || rotated == token {
		t.Fatalf("new token %q (old %q)", rotated, token)
	}
	if r := s.Do(t, "GET", "/api/v1/solutions/demo", token, nil); r.Status != http.StatusUnauthorized {
		t.Errorf("the old token after a new one: %d", r.Status)
	}
	b.open(t, s.URL+"/console/#/solutions/demo/endpoints", "main h1")
	b.waitText(t, "/hello")
	if stored := evalJS[string](t, b, "the kept token", `sessionStorage.getItem('switchboard.console.token')`); stored != rotated {
		t.Errorf("the console keeps %q, want the new token", stored)
	}
	b.checkClean(t)
}

// The console is the management origin's: with --apps-domain it is served there, and a
// solution's own host keeps every path for the solution's endpoints.
func TestConsoleOrigins(t *testing.T) {
	s := hubtest.Start(t, func(c *hub.Config) { c.AppsDomain = "apps.example.test" })
	s.CreateSolution(t, "demo")
	s.Deploy(t, "demo", "GET", "/console/", `return "the solution's own"`)
	for _, tc := range []struct {
		name, host string
		want       string
		console    bool
	}{
		{"management origin", "", `src="/console/app.js"`, true},
		{"a solution's host", "demo.apps.example.test", "the solution's own", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest("GET", s.URL+"/console/", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.host != "" {
				req.Host = tc.host
			}
			r := s.Send(t, req)
			if r.Status != http.StatusOK || !strings.Contains(string(r.Body), tc.want) {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			if got := strings.HasPrefix(r.Header.Get("Content-Security-Policy"), strings.Split(console.CSP, "style-src")[0]); got != tc.console {
				t.Errorf("console CSP %v, want %v (%q)", got, tc.console, r.Header.Values("Content-Security-Policy"))
			}
		})
	}
	r := s.Do(t, "POST", "/console/", "", nil)
	if r.Status != http.StatusMethodNotAllowed {
		t.Errorf("POST /console/: %d", r.Status)
	}
}

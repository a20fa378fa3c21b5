package console_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// The walkthrough of an event's way into a dead letter and back, entirely in the console: an
// endpoint written with a syntax error (its line marked), fixed and run, its log line seen
// live; a handler that fails, an event published on the events page that it sends to the dead
// letters, the handler fixed, the dead letter replayed and seen to succeed; the dashboard's
// chart moving with the requests made. Every page passes axe-core.
func TestConsoleWalkthrough(t *testing.T) {
	b := newBrowser(t)
	s := hubtest.Start(t, func(c *hub.Config) { c.MetricsInterval = 200 * time.Millisecond })

	b.do(t, "watch CSP violations", watchCSP())
	b.open(t, s.URL+"/console/", `input[name=token]`)
	b.fill(t, `input[name=token]`, s.AdminToken)
	b.clickText(t, "Sign in")
	b.waitText(t, "Create a solution")
	b.fill(t, `input[name=id]`, "shop")
	b.clickText(t, "Create")
	b.waitSel(t, "#new-token")

	// An endpoint: its syntax error marked at line 2 and not deployed; fixed, deployed, run.
	b.open(t, s.URL+"/console/#/solutions/shop/endpoints?new=1", ".cm-editor")
	b.fill(t, `input[name=path]`, "/orders")
	b.setEditor(t, "print(\"listing orders\")\nreturn {orders = }\n")
	b.waitJS(t, "the error marked at line 2", `(() => {
		const mark = document.querySelector('.cm-lintRange-error, .cm-lintPoint-error');
		const line = mark && mark.closest('.cm-line');
		return !!line && [...document.querySelectorAll('.cm-content .cm-line')].indexOf(line) === 1;
	})()`)
	b.waitText(t, "line 2")
	b.setEditor(t, "print(\"listing orders\")\nreturn {orders = {}}\n")
	b.waitJS(t, "the check passing", `!document.querySelector('.cm-lintRange-error') && !!document.querySelector('.check-ok')`)
	b.clickText(t, "Deploy")
	b.waitText(t, ", version ")
	b.clickText(t, "Run")
	b.waitJS(t, "the run's answer", `!!document.querySelector('.run-logs') && document.querySelector('.run-logs').textContent.includes('listing orders')`)

	b.open(t, s.URL+"/console/#/solutions/shop/logs", "main h1")
	b.waitText(t, "Following live")
	if r := s.Do(t, "GET", "/apps/shop/orders", "", nil); r.Status != http.StatusOK {
		t.Fatalf("GET /apps/shop/orders: %d %s", r.Status, r.Body)
	}
	b.waitJS(t, "the request's log line, live", `[...document.querySelectorAll('.logs .entry')].some(e => e.textContent.includes('listing orders') && e.textContent.includes('endpoint GET /orders'))`)

	// A handler that fails while the warehouse is closed, tried twice before it gives up:
	// written and deployed on the handlers page, its retry policy with it.
	failing := "local open = Keystore.get({key = \"warehouse\"})\nif open.value ~= \"open\" then\n  error(\"warehouse closed\")\nend\nKeystore.set({key = \"shipped\", value = event.id})\n"
	b.open(t, s.URL+"/console/#/solutions/shop/handlers?new=1", ".cm-editor")
	b.fill(t, `input[name=name]`, "ship")
	b.fill(t, `input[name=topics]`, "orders.created")
	b.fill(t, `input[name=retry_attempts]`, "101")
	b.setEditor(t, failing)
	b.waitText(t, "retry.attempts") // refused by the check, naming the field
	b.fill(t, `input[name=retry_attempts]`, "2")
	b.fill(t, `input[name=retry_min_wait]`, "10ms")
	b.fill(t, `input[name=retry_max_wait]`, "20ms")
	b.waitJS(t, "the check passing", `!!document.querySelector('.check-ok')`)
	b.clickText(t, "Deploy")
	b.waitText(t, "Deployed handler ship")
	if h := s.Do(t, "GET", "/api/v1/solutions/shop/handlers/ship", s.AdminToken, nil).Map(t); fmt.Sprint(h["retry"]) != "map[attempts:2 max_wait:20ms min_wait:10ms]" {
		t.Fatalf("handler ship deployed with retry %v", h["retry"])
	}

	// Published on the events page: seen in the live tail, its report ends dead-lettered.
	b.open(t, s.URL+"/console/#/solutions/shop/events", "main h1")
	b.clickText(t, "Follow")
	b.waitText(t, "Following live")
	b.fill(t, `textarea[name=data]`, `{"order": `)
	b.waitText(t, "data is not JSON")
	b.waitJS(t, "publish refused before sending", `[...document.querySelectorAll('button')].find(e => e.textContent.trim() === 'Publish').disabled`)
	b.fill(t, `input[name=topic]`, "orders.created")
	b.fill(t, `input[name=event-id]`, "order-1")
	b.fill(t, `textarea[name=data]`, `{"order": "o-1"}`)
	b.clickText(t, "Publish")
	b.waitJS(t, "the delivery report dead-lettered", `[...document.querySelectorAll('tr.delivery')].some(r => r.textContent.includes('ship') && r.querySelector('.delivery-state').textContent.startsWith('dead-lettered') && r.textContent.includes('warehouse closed'))`)
	b.waitText(t, "Every handler has an outcome.")
	b.waitJS(t, "the event in the live tail", `[...document.querySelectorAll('.events-tail .entry')].some(e => e.textContent.includes('order-1') && e.textContent.includes('o-1'))`)
	b.axe(t, "events")
	b.screenshot(t, "events")

	// The dead letter: listed, inspected as text.
	b.clickText(t, "See the dead letters")
	b.waitJS(t, "the dead letter listed", `[...document.querySelectorAll('table.deadletters tbody tr')].some(r => r.textContent.includes('ship') && r.textContent.includes('warehouse closed'))`)
	seq := evalJS[string](t, b, "the dead letter's seq", `document.querySelector('table.deadletters tbody tr a').textContent`)
	if _, err := strconv.Atoi(seq); err != nil {
		t.Fatalf("seq %q", seq)
	}
	b.clickText(t, seq)
	b.waitJS(t, "the dead letter's detail", `!!document.querySelector('.dl-detail') && document.querySelector('.dl-event').textContent.includes('o-1') && document.querySelector('.dl-detail').textContent.includes('warehouse closed')`)
	b.axe(t, "dead letters")
	b.screenshot(t, "deadletters")

	// Replaying many asks first; cancelled, nothing is replayed.
	b.clickText(t, "Replay all")
	b.waitSel(t, "dialog.confirm[open]")
	b.clickText(t, "Cancel")
	if n := deadLetters(t, s, "shop"); n != 1 {
		t.Fatalf("%d dead letters after a cancelled replay, want 1", n)
	}

	// The handler fixed in the console (the warehouse opens for it), then the dead letter replayed.
	b.open(t, s.URL+"/console/#/solutions/shop/handlers?name=ship", ".cm-editor")
	b.waitJS(t, "the handler's script loaded", `document.querySelector('.cm-content').textContent.includes('warehouse closed')`)
	b.setEditor(t, "Keystore.set({key = \"shipped\", value = event.id})\n")
	b.waitJS(t, "the check passing", `!!document.querySelector('.check-ok')`)
	b.clickText(t, "Deploy")
	b.waitText(t, "Deployed handler ship")
	if h := s.Do(t, "GET", "/api/v1/solutions/shop/handlers/ship", s.AdminToken, nil).Map(t); fmt.Sprint(h["retry"]) != "map[attempts:2 max_wait:20ms min_wait:10ms]" {
		t.Fatalf("handler ship, fixed in the console, lost its retry policy: %v", h["retry"])
	}

	b.open(t, s.URL+"/console/#/solutions/shop/deadletters?seq="+seq, ".dl-detail")
	b.clickText(t, "Replay")
	b.waitText(t, "Replayed 1 dead letter")
	hubtest.Eventually(t, "the replayed order shipped", func() bool {
		r := s.Do(t, "GET", "/api/v1/solutions/shop/keystore/keys/shipped", s.AdminToken, nil)
		return r.Status == http.StatusOK && r.Map(t)["value"] == "order-1"
	})
	b.clickText(t, "Close")
	b.waitText(t, "No dead letters.")
	if n := deadLetters(t, s, "shop"); n != 0 {
		t.Errorf("%d dead letters after the replay succeeded", n)
	}

	// The report of the replayed event, read again, says it succeeded.
	b.open(t, s.URL+"/console/#/solutions/shop/events?id=order-1", "main h1")
	b.waitJS(t, "the report succeeded", `[...document.querySelectorAll('tr.delivery')].some(r => r.textContent.includes('ship') && r.querySelector('.delivery-state').textContent.startsWith('succeeded'))`)

	// The dashboard: requests made now move the requests chart.
	b.open(t, s.URL+"/console/#/solutions/shop/dashboard", "main h1")
	b.waitSel(t, "table.latest")
	before := chartPoints(t, b, "Endpoint requests per second")
	for i := 0; i < 5; i++ {
		if r := s.Do(t, "GET", "/apps/shop/orders", "", nil); r.Status != http.StatusOK {
			t.Fatalf("GET /apps/shop/orders: %d", r.Status)
		}
	}
	// Only whole 10s steps are shown, and the page reads every 10s: up to 20s and a little.
	waitLong(t, b, "the requests chart moving", fmt.Sprintf(`+document.querySelector('figure.chart[aria-label="Endpoint requests per second"]').dataset.points > %d`, before), 35*time.Second)
	b.waitJS(t, "the latest requests/s in the table", `[...document.querySelectorAll('table.latest tr')].some(r => r.textContent.includes('requests/s') && /[0-9.]+\/s/.test(r.querySelector('.latest-value').textContent) && r.querySelector('.latest-value').textContent !== '0/s')`)
	b.waitJS(t, "the handler's chart", `!!document.querySelector('figure.chart[aria-label="Handler ship: retries and dead letters per step"] canvas')`)
	b.waitJS(t, "legend labels", `[...document.querySelectorAll('.u-legend .u-label')].map(e => e.textContent).join(' ').includes('p95')`)
	b.axe(t, "dashboard")
	b.screenshot(t, "dashboard")

	// Hosted services, flows and nodes: a service's code as text, a flow's security value
	// never shown, a node disabled only after a confirmation.
	const secret = "s3cret-value-never-shown"
	base := "/api/v1/solutions/shop"
	for _, c := range []struct {
		path string
		body map[string]any
	}{
		{base + "/hosted-services", map[string]any{"name": "Blink", "kind": "lua", "code": "local S = {}\nfunction S:Start() print('<b>blink</b>') end\nfunction S:Stop() end\nreturn S\n",
			"security_properties": []any{map[string]any{"name": "key", "required": true}}}},
		{base + "/nodes", map[string]any{"name": "edge-1", "tags": []string{"gpio"}}},
		{base + "/flows", map[string]any{"name": "lights", "instances": []any{map[string]any{"name": "OnHub", "service": "Blink", "node": "hub", "security": map[string]any{"key": secret}}}}},
	} {
		if r := s.Do(t, "POST", c.path, s.AdminToken, c.body); r.Status != http.StatusCreated {
			t.Fatalf("POST %s: %d %s", c.path, r.Status, r.Body)
		}
	}
	b.open(t, s.URL+"/console/#/solutions/shop/hosted-services", "main h1")
	b.clickText(t, "Blink lua")
	b.waitJS(t, "the service's code as text", `!!document.querySelector('pre.hosted-code') && document.querySelector('pre.hosted-code').textContent.includes("print('<b>blink</b>')") && !document.querySelector('pre.hosted-code b')`)
	b.waitText(t, "Security properties (values never shown)")
	b.axe(t, "hosted services")
	b.screenshot(t, "hosted-services")
	b.open(t, s.URL+"/console/#/solutions/shop/flows?name=lights", "table.flow-instances")
	b.waitJS(t, "the security value as (set)", `document.querySelector('table.flow-instances').textContent.includes('key (set)')`)
	if text := b.text(t, "main"); strings.Contains(text, secret) {
		t.Errorf("a security property's value shown: %q", text)
	}
	b.axe(t, "flows")
	b.screenshot(t, "flows")
	hubtest.Eventually(t, "the hub node to run OnHub", func() bool {
		ins, _ := s.Do(t, "GET", base+"/nodes/hub", s.AdminToken, nil).Map(t)["instances"].([]any)
		return len(ins) == 1 && ins[0].(map[string]any)["state"] == "running"
	})
	b.open(t, s.URL+"/console/#/solutions/shop/nodes", "table.nodes")
	b.waitJS(t, "the hub online running OnHub, edge-1 offline and never seen", `(() => {
		const rows = [...document.querySelectorAll('table.nodes tr.node')];
		const row = (n) => rows.find(r => r.cells[0].textContent.startsWith(n));
		const state = (n) => { const r = row(n); return r && r.querySelector('.node-state').textContent; };
		return state('hub') === 'online' && row('hub').textContent.includes('OnHub: Blink 0.1 running') &&
			state('edge-1') === 'offline' && row('edge-1').textContent.includes('never');
	})()`)
	disabled := func() bool {
		r := s.Do(t, "GET", base+"/nodes/edge-1", s.AdminToken, nil)
		return r.Map(t)["disabled"] == true
	}
	clickLabel := func(label string) {
		evalJS[bool](t, b, "click "+label, fmt.Sprintf(`document.querySelector('button[aria-label=%s]').click(), true`, js(label)))
	}
	clickLabel("Disable edge-1")
	b.waitSel(t, "dialog.confirm[open]")
	b.clickText(t, "Cancel")
	if disabled() {
		t.Fatal("a cancelled disable disabled the node")
	}
	clickLabel("Disable edge-1")
	b.waitSel(t, "dialog.confirm[open]")
	b.axe(t, "nodes (confirm)")
	evalJS[bool](t, b, "confirm", `document.querySelector('dialog.confirm[open] button.danger').click(), true`)
	b.waitJS(t, "edge-1 disabled", `!!document.querySelector('button[aria-label="Enable edge-1"]')`)
	if !disabled() {
		t.Fatal("edge-1 not disabled")
	}
	b.axe(t, "nodes")
	b.screenshot(t, "nodes")
	clickLabel("Enable edge-1")
	b.waitJS(t, "edge-1 enabled", `!!document.querySelector('button[aria-label="Disable edge-1"]')`)
	if disabled() {
		t.Fatal("edge-1 still disabled")
	}
	b.checkClean(t)
}

// deadLetters counts a solution's dead letters through the API.
func deadLetters(t *testing.T, s *hubtest.Server, sol string) int {
	t.Helper()
	r := s.Do(t, "GET", "/api/v1/solutions/"+sol+"/deadletters", s.AdminToken, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("dead letters of %s: %d %s", sol, r.Status, r.Body)
	}
	items, _ := r.Map(t)["items"].([]any)
	return len(items)
}

// chartPoints is how many steps of the titled chart have something to show.
func chartPoints(t *testing.T, b *browser, title string) int {
	t.Helper()
	sel := fmt.Sprintf(`figure.chart[aria-label=%s]`, js(title))
	b.waitSel(t, sel)
	return evalJS[int](t, b, "the points of "+title, fmt.Sprintf(`+document.querySelector(%s).dataset.points`, js(sel)))
}

// waitLong waits until js is true, for longer than waitJS does.
func waitLong(t *testing.T, b *browser, what, js string, d time.Duration) {
	t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(d))); err != nil {
		b.fail(t, "wait for "+what, err)
	}
}

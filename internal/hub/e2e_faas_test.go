package hub_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// connector makes the HTTP calls OpenFaaS's connector-sdk makes, in its order and with its
// headers: it builds a topic map from GET /system/namespaces and GET /system/functions per
// namespace (the "topic" annotation split on commas), then invokes every function of a topic
// with POST /function/<name>.<namespace> (or /async-function/), X-Topic and its own headers.
type connector struct {
	t            *testing.T
	gateway      string
	user, pass   string
	contentType  string
	async        bool
	extraHeaders http.Header
}

// invocation is what one function's call answered.
type invocation struct {
	function string
	status   int
	header   http.Header
	body     []byte
}

func (c connector) get(path string) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.gateway+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	req.SetBasicAuth(c.user, c.pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// topicMap is topic → "name.namespace" of every function announcing it.
func (c connector) topicMap() map[string][]string {
	c.t.Helper()
	status, body := c.get("/system/namespaces")
	if status != http.StatusOK {
		c.t.Fatalf("GET /system/namespaces: %d %s", status, body)
	}
	var namespaces []string
	if err := json.Unmarshal(body, &namespaces); err != nil {
		c.t.Fatalf("namespaces %s: %v", body, err)
	}
	if len(namespaces) == 0 {
		namespaces = []string{""}
	}
	out := map[string][]string{}
	for _, ns := range namespaces {
		path := "/system/functions"
		if ns != "" {
			path += "?namespace=" + ns
		}
		status, body := c.get(path)
		if status != http.StatusOK {
			c.t.Fatalf("GET %s: %d %s", path, status, body)
		}
		var fns []struct {
			Name        string             `json:"name"`
			Annotations *map[string]string `json:"annotations"`
		}
		if err := json.Unmarshal(body, &fns); err != nil {
			c.t.Fatalf("functions %s: %v", body, err)
		}
		for _, f := range fns {
			if f.Annotations == nil {
				continue
			}
			topics, ok := (*f.Annotations)["topic"]
			if !ok {
				continue
			}
			for _, topic := range strings.Split(topics, ",") {
				if topic = strings.TrimSpace(topic); topic == "" {
					continue
				}
				fn := f.Name
				if ns != "" {
					fn += "." + ns
				}
				out[topic] = append(out[topic], fn)
			}
		}
	}
	return out
}

// invoke calls every function of topic as the connector-sdk's invoker does.
func (c connector) invoke(topics map[string][]string, topic string, message []byte) []invocation {
	c.t.Helper()
	route := "/function/"
	if c.async {
		route = "/async-function/"
	}
	var out []invocation
	for _, fn := range topics[topic] {
		req, err := http.NewRequest(http.MethodPost, c.gateway+route+fn, bytes.NewReader(message))
		if err != nil {
			c.t.Fatal(err)
		}
		if c.contentType != "" {
			req.Header.Set("Content-Type", c.contentType)
		}
		req.Header.Add("X-Topic", topic)
		for k, vs := range c.extraHeaders {
			for _, v := range vs {
				req.Header.Add(k, v)
			}
		}
		req.SetBasicAuth(c.user, c.pass)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			c.t.Fatalf("POST %s: %v", fn, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out = append(out, invocation{function: fn, status: resp.StatusCode, header: resp.Header, body: b})
	}
	return out
}

func deployHandler(t *testing.T, s *hubtest.Server, sol, name string, topics []string, script string) {
	t.Helper()
	r := s.Do(t, "POST", "/api/v1/solutions/"+sol+"/handlers", s.AdminToken,
		map[string]any{"name": name, "topics": topics, "script": script})
	if r.Status != http.StatusCreated {
		t.Fatalf("deploy handler %s/%s: %d %s", sol, name, r.Status, r.Body)
	}
}

// echo answers what reached the handler.
const echo = `return {handler = "%s", topic = event.topic, data = event.data,
  connector = event.headers["x-connector"], served_by = event.headers["x-served-by"],
  authorization = event.headers["authorization"]}`

func TestOpenFaaSConnector(t *testing.T) {
	s := hubtest.Start(t)
	shopToken := s.CreateSolution(t, "shop")
	s.CreateSolution(t, "bank")
	deployHandler(t, s, "shop", "pay", []string{"payment", "refund"}, strings.Replace(echo, "%s", "pay", 1))
	deployHandler(t, s, "shop", "audit", []string{"payment"}, `return "audited " .. event.data`)
	deployHandler(t, s, "bank", "ledger", []string{"payment"}, strings.Replace(echo, "%s", "ledger", 1))
	deployHandler(t, s, "bank", "broken", []string{"alarm"}, `error("no ledger")`)

	headers := http.Header{"X-Connector": {"connector-tester"}, "X-Served-By": {"cmd/tester"}}
	admin := connector{t: t, gateway: s.URL, user: "admin", pass: s.AdminToken, extraHeaders: headers}
	shop := connector{t: t, gateway: s.URL, user: "shop", pass: shopToken, extraHeaders: headers, contentType: "application/json"}

	t.Run("the admin's topic map spans every solution", func(t *testing.T) {
		admin.t = t
		got := admin.topicMap()
		for _, fns := range got {
			sort.Strings(fns)
		}
		want := map[string][]string{
			"payment": {"audit.shop", "ledger.bank", "pay.shop"},
			"refund":  {"pay.shop"},
			"alarm":   {"broken.bank"},
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("topic map = %v, want %v", got, want)
		}
	})

	t.Run("function listing has the OpenFaaS fields", func(t *testing.T) {
		admin.t = t
		status, body := admin.get("/system/functions?namespace=shop")
		if status != http.StatusOK {
			t.Fatalf("%d %s", status, body)
		}
		var fns []map[string]any
		if err := json.Unmarshal(body, &fns); err != nil {
			t.Fatal(err)
		}
		if len(fns) != 2 {
			t.Fatalf("functions = %s", body)
		}
		pay := fns[1]
		if pay["name"] != "pay" || pay["namespace"] != "shop" || pay["image"] == "" || pay["replicas"] != float64(1) ||
			pay["annotations"].(map[string]any)["topic"] != "payment,refund" ||
			pay["labels"].(map[string]any)["faas_function"] != "pay" {
			t.Fatalf("function pay = %v", pay)
		}
	})

	t.Run("sync invocation runs each function once with the connector's headers", func(t *testing.T) {
		admin.t = t
		got := admin.invoke(admin.topicMap(), "payment", []byte(`test payload`))
		if len(got) != 3 {
			t.Fatalf("invocations = %v", got)
		}
		byFn := map[string]invocation{}
		for _, inv := range got {
			if inv.status != http.StatusOK || inv.header.Get("X-Call-Id") == "" || inv.header.Get("X-Duration-Seconds") == "" {
				t.Fatalf("%s: %d %v %s", inv.function, inv.status, inv.header, inv.body)
			}
			byFn[inv.function] = inv
		}
		if b := string(byFn["audit.shop"].body); b != "audited test payload" {
			t.Errorf("audit.shop answered %q", b)
		}
		for fn, handler := range map[string]string{"pay.shop": "pay", "ledger.bank": "ledger"} {
			var res map[string]any
			if err := json.Unmarshal(byFn[fn].body, &res); err != nil {
				t.Fatalf("%s: %s", fn, byFn[fn].body)
			}
			want := map[string]any{"handler": handler, "topic": "payment", "data": "test payload",
				"connector": "connector-tester", "served_by": "cmd/tester"}
			if !reflect.DeepEqual(res, want) {
				t.Errorf("%s answered %v, want %v (credentials never reach the handler)", fn, res, want)
			}
		}
	})

	t.Run("JSON data arrives decoded", func(t *testing.T) {
		shop.t = t
		got := shop.invoke(shop.topicMap(), "refund", []byte(`{"order":7}`))
		if len(got) != 1 || got[0].status != http.StatusOK {
			t.Fatalf("invocations = %v", got)
		}
		var res map[string]any
		json.Unmarshal(got[0].body, &res) //nolint:errcheck // checked below
		if d, _ := res["data"].(map[string]any); d["order"] != float64(7) || res["topic"] != "refund" {
			t.Fatalf("answer = %s", got[0].body)
		}
	})

	t.Run("a solution's credentials see only its namespace", func(t *testing.T) {
		shop.t = t
		if status, body := shop.get("/system/namespaces"); status != http.StatusOK || strings.TrimSpace(string(body)) != `["shop"]` {
			t.Fatalf("namespaces: %d %s", status, body)
		}
		topics := shop.topicMap()
		if got := topics["payment"]; len(got) != 2 || strings.Contains(strings.Join(got, ","), "bank") {
			t.Fatalf("shop's topic map = %v", topics)
		}
		if status, body := shop.get("/system/functions?namespace=bank"); status != http.StatusForbidden {
			t.Fatalf("functions of bank: %d %s", status, body)
		}
		got := shop.invoke(map[string][]string{"payment": {"ledger.bank"}}, "payment", []byte(`{}`))
		if got[0].status != http.StatusForbidden {
			t.Fatalf("shop invoking ledger.bank: %d %s", got[0].status, got[0].body)
		}
		// Its own function without a namespace is its own.
		got = shop.invoke(map[string][]string{"payment": {"pay"}}, "payment", []byte(`1`))
		if got[0].status != http.StatusOK {
			t.Fatalf("shop invoking pay: %d %s", got[0].status, got[0].body)
		}
	})

	t.Run("wrong or missing credentials are 401", func(t *testing.T) {
		for _, c := range []connector{
			{t: t, gateway: s.URL, user: "shop", pass: "wrong"},
			{t: t, gateway: s.URL, user: "bank", pass: shopToken}, // another solution's token
			{t: t, gateway: s.URL, user: "admin", pass: shopToken},
		} {
			for _, path := range []string{"/system/namespaces", "/system/functions?namespace=shop"} {
				if status, body := c.get(path); status != http.StatusUnauthorized {
					t.Errorf("%s as %s: %d %s", path, c.user, status, body)
				}
			}
			got := c.invoke(map[string][]string{"payment": {"pay.shop"}}, "payment", []byte(`{}`))
			if got[0].status != http.StatusUnauthorized || got[0].header.Get("WWW-Authenticate") == "" {
				t.Errorf("invoke as %s: %d %s", c.user, got[0].status, got[0].body)
			}
		}
		r := s.Do(t, "GET", "/system/namespaces", "", nil)
		if r.Status != http.StatusUnauthorized {
			t.Errorf("no credentials: %d %s", r.Status, r.Body)
		}
	})

	t.Run("failures and unknown functions", func(t *testing.T) {
		admin.t = t
		got := admin.invoke(map[string][]string{"alarm": {"broken.bank", "nope.bank", "pay"}}, "alarm", []byte(`x`))
		var failed map[string]any
		json.Unmarshal(got[0].body, &failed) //nolint:errcheck // checked below
		if got[0].status != http.StatusInternalServerError || failed["error_id"] == nil {
			t.Errorf("broken.bank: %d %s", got[0].status, got[0].body)
		}
		if got[1].status != http.StatusNotFound {
			t.Errorf("nope.bank: %d %s", got[1].status, got[1].body)
		}
		if got[2].status != http.StatusBadRequest {
			t.Errorf("admin without a namespace: %d %s", got[2].status, got[2].body)
		}
		for path, want := range map[string]int{
			"/system/functions?namespace=Not_An_Id": http.StatusBadRequest,
			"/system/functions?namespace=ghost":     http.StatusNotFound,
			"/system/functions":                     http.StatusOK, // the admin has no default namespace: []
		} {
			if status, body := admin.get(path); status != want {
				t.Errorf("%s: %d %s, want %d", path, status, body, want)
			}
		}
	})

	t.Run("async posts the result to the callback URL", func(t *testing.T) {
		type callback struct {
			header http.Header
			body   []byte
		}
		got := make(chan callback, 1)
		cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			got <- callback{r.Header.Clone(), b}
		}))
		defer cb.Close()
		c := admin
		c.t, c.async = t, true
		c.extraHeaders = http.Header{"X-Connector": {"connector-tester"}, "X-Callback-Url": {cb.URL + "/done"}}
		inv := c.invoke(map[string][]string{"payment": {"pay.shop"}}, "payment", []byte(`"async"`))
		if inv[0].status != http.StatusAccepted || inv[0].header.Get("X-Call-Id") == "" {
			t.Fatalf("async: %d %v %s", inv[0].status, inv[0].header, inv[0].body)
		}
		select {
		case res := <-got:
			h := res.header
			if h.Get("X-Call-Id") != inv[0].header.Get("X-Call-Id") || h.Get("X-Function-Name") != "pay" || h.Get("X-Function-Status") != "200" {
				t.Fatalf("callback headers = %v", h)
			}
			if _, err := strconv.ParseFloat(h.Get("X-Duration-Seconds"), 64); err != nil {
				t.Fatalf("X-Duration-Seconds = %q", h.Get("X-Duration-Seconds"))
			}
			var m map[string]any
			if err := json.Unmarshal(res.body, &m); err != nil || m["data"] != "async" || m["connector"] != "connector-tester" {
				t.Fatalf("callback body = %s", res.body)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no callback within 10s")
		}
	})

	t.Run("a callback URL at the hub itself is refused", func(t *testing.T) {
		c := admin
		c.t, c.async = t, true
		for _, u := range []string{s.URL + "/api/v1/solutions", strings.Replace(s.URL, "127.0.0.1", "localhost", 1) + "/healthz", "ftp://example.com/x"} {
			c.extraHeaders = http.Header{"X-Callback-Url": {u}}
			inv := c.invoke(map[string][]string{"payment": {"pay.shop"}}, "payment", []byte(`{}`))
			var m map[string]any
			json.Unmarshal(inv[0].body, &m) //nolint:errcheck // checked below
			if inv[0].status != http.StatusBadRequest || m["field"] != "X-Callback-Url" {
				t.Errorf("callback %s: %d %s", u, inv[0].status, inv[0].body)
			}
		}
	})
}

// TestOpenFaaSAsyncBoundedPerFunction: an async call is a durable event of its function,
// whose callback is POSTed in the function's own run slot: a slow callback receiver holds up
// that function's next async call (max_in_flight 1 here), and nothing else of its solution.
func TestOpenFaaSAsyncBoundedPerFunction(t *testing.T) {
	s := hubtest.Start(t)
	tok := s.CreateSolution(t, "shop")
	r := s.Do(t, "POST", "/api/v1/solutions/shop/handlers", s.AdminToken,
		map[string]any{"name": "pay", "topics": []string{"payment"}, "script": `return "ok"`, "max_in_flight": 1})
	if r.Status != http.StatusCreated {
		t.Fatalf("deploy: %d %s", r.Status, r.Body)
	}
	release := make(chan struct{})
	got := make(chan string, 2)
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("X-Call-Id") + " " + r.Header.Get("X-Function-Status")
		<-release
	}))
	defer cb.Close()
	defer close(release)
	call := func(route string, callback bool) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, s.URL+route+"pay.shop", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("shop", tok)
		req.Header.Set("X-Topic", "payment")
		if callback {
			req.Header.Set("X-Callback-Url", cb.URL)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("X-Call-Id")
	}
	st, first := call("/async-function/", true)
	if st != http.StatusAccepted || first == "" {
		t.Fatalf("async call: %d, id %q; want 202 and an X-Call-Id", st, first)
	}
	if g := <-got; g != first+" 200" {
		t.Fatalf("callback %q, want %q", g, first+" 200")
	}
	// The receiver holds the first result: the second call is stored, and waits.
	st, second := call("/async-function/", true)
	if st != http.StatusAccepted {
		t.Fatalf("second async call: %d, want 202", st)
	}
	if st, _ := call("/function/", false); st != http.StatusOK {
		t.Fatalf("a sync call while the callback is held: %d, want 200 (only the function's async calls wait)", st)
	}
	rep := s.Do(t, "GET", "/api/v1/solutions/shop/events/"+second, s.AdminToken, nil)
	if rep.Status != http.StatusOK || !strings.Contains(string(rep.Body), `"state":"pending"`) {
		t.Fatalf("second call's report while the first callback is held: %d %s; want pending", rep.Status, rep.Body)
	}
	release <- struct{}{}
	if g := <-got; g != second+" 200" {
		t.Fatalf("second callback %q, want %q", g, second+" 200")
	}
}

package hub_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// logEntry is an entry as GET …/logs shows it.
type logEntry struct {
	Seq       uint64         `json:"seq"`
	Level     string         `json:"level"`
	Solution  string         `json:"solution"`
	Source    string         `json:"source"`
	RequestID string         `json:"request_id"`
	ErrorID   string         `json:"error_id"`
	Message   string         `json:"message"`
	Fields    map[string]any `json:"fields"`
	File      string         `json:"file"`
	Line      int            `json:"line"`
	Trace     string         `json:"trace"`
}

// syncLogs waits until what runs wrote so far is stored.
func syncLogs(t *testing.T, s *hubtest.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Hub.Logs().Sync(ctx); err != nil {
		t.Fatalf("sync logs: %v", err)
	}
}

// readLogs reads one page of a solution's log with token and the query.
func readLogs(t *testing.T, s *hubtest.Server, sol, token, query string) []logEntry {
	t.Helper()
	r := s.Do(t, "GET", "/api/v1/solutions/"+sol+"/logs?"+query, token, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("read logs of %s (%s): %d %s", sol, query, r.Status, r.Body)
	}
	var page struct {
		Items []logEntry `json:"items"`
	}
	r.JSON(t, &page)
	return page.Items
}

// callWithID calls an app path with an X-Request-Id.
func callWithID(t *testing.T, s *hubtest.Server, path, reqID string) hubtest.Response {
	t.Helper()
	req, err := http.NewRequest("GET", s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Request-Id", reqID)
	return s.Send(t, req)
}

const failingScript = `print("starting", 1)
Log.warn("about to fail", {user = "ann"})
local function check()
  error("boom: no user 42")
end
check()
`

// TestSolutionLogs: an endpoint that prints, logs and fails leaves its entries and one error
// entry with the whole error, its line, the stack trace and the ids its caller was given;
// the filters select them; a solution's token reads only its own log.
func TestSolutionLogs(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	token := createSolution(t, s, "logs", map[string]any{"steps": 100_000})
	other := createSolution(t, s, "other", nil)
	s.Deploy(t, "logs", "GET", "/fail", failingScript)
	s.Deploy(t, "logs", "GET", "/ok", `print("fine") return "ok"`)
	s.Deploy(t, "logs", "GET", "/spin", `while true do end`)

	r := callWithID(t, s, "/apps/logs/fail", "req-fail-1")
	var answer map[string]any
	r.JSON(t, &answer)
	if r.Status != http.StatusInternalServerError || answer["error"] != "script error" || answer["request_id"] != "req-fail-1" || len(answer["error_id"].(string)) != 16 {
		t.Fatalf("failed endpoint answered %d %s", r.Status, r.Body)
	}
	if _, shown := answer["message"]; shown {
		t.Errorf("the message is shown without debug mode: %s", r.Body)
	}
	errID := answer["error_id"].(string)
	wantText(t, callWithID(t, s, "/apps/logs/ok", "req-ok-1"), "ok")
	syncLogs(t, s)

	items := readLogs(t, s, "logs", token, "")
	if len(items) != 4 {
		t.Fatalf("%d entries, want 4: %+v", len(items), items)
	}
	started, warned, failed, fine := items[0], items[1], items[2], items[3]
	if started.Level != "info" || started.Message != "starting\t1" || started.Source != "endpoint GET /fail" || started.RequestID != "req-fail-1" || started.Solution != "logs" {
		t.Errorf("print entry %+v", started)
	}
	if warned.Level != "warn" || warned.Message != "about to fail" || warned.Fields["user"] != "ann" {
		t.Errorf("Log.warn entry %+v", warned)
	}
	if failed.Level != "error" || !strings.Contains(failed.Message, "boom: no user 42") || failed.Line != 4 || failed.ErrorID != errID || failed.RequestID != "req-fail-1" {
		t.Errorf("failure entry %+v", failed)
	}
	// The error id its caller got finds the failure's entry alone.
	if byID := readLogs(t, s, "logs", token, "error_id="+errID); len(byID) != 1 || byID[0].Seq != failed.Seq {
		t.Errorf("entries of error id %s: %+v, want the failure's alone", errID, byID)
	}
	if none := readLogs(t, s, "logs", token, "error_id=0000000000000000"); len(none) != 0 {
		t.Errorf("entries of an unknown error id: %+v", none)
	}
	for _, want := range []string{"stack traceback:", ":4: in function 'check'", ":6: in main chunk"} {
		if !strings.Contains(failed.Trace, want) {
			t.Errorf("trace lacks %q:\n%s", want, failed.Trace)
		}
	}
	if fine.Message != "fine" || fine.Source != "endpoint GET /ok" || fine.Seq <= failed.Seq {
		t.Errorf("entry of /ok %+v", fine)
	}

	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"level=warn", []string{"about to fail", failed.Message}},
		{"level=error", []string{failed.Message}},
		{"request_id=req-ok-1", []string{"fine"}},
		{"source=" + url.QueryEscape("endpoint GET /ok"), []string{"fine"}},
		{"since=1h", []string{"starting\t1", "about to fail", failed.Message, "fine"}},
		{"since=2000-01-01T00:00:00Z&limit=1", []string{"starting\t1"}},
		{"cursor=" + strconv.FormatUint(warned.Seq, 10), []string{failed.Message, "fine"}},
	} {
		var got []string
		for _, e := range readLogs(t, s, "logs", token, tc.query) {
			got = append(got, e.Message)
		}
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("%s: %q, want %q", tc.query, got, tc.want)
		}
	}
	for query, field := range map[string]string{"level=loud": "level", "since=yesterday": "since", "limit=5000": "limit", "cursor=x": "cursor", "levle=warn": "levle", "follow=maybe": "follow"} {
		r := s.Do(t, "GET", "/api/v1/solutions/logs/logs?"+query, token, nil)
		if r.Status != http.StatusBadRequest || r.Map(t)["field"] != field {
			t.Errorf("%s: %d %s, want 400 naming %s", query, r.Status, r.Body, field)
		}
	}

	// One solution's token never reads another's log.
	if r := s.Do(t, "GET", "/api/v1/solutions/logs/logs", other, nil); r.Status != http.StatusForbidden {
		t.Errorf("another solution's token: %d %s, want 403", r.Status, r.Body)
	}
	if r := s.Do(t, "GET", "/api/v1/solutions/logs/logs?follow=1", other, nil); r.Status != http.StatusForbidden {
		t.Errorf("another solution's token following: %d %s, want 403", r.Status, r.Body)
	}
	if items := readLogs(t, s, "other", other, ""); len(items) != 0 {
		t.Errorf("the other solution sees %d entries", len(items))
	}
	if items := readLogs(t, s, "logs", s.AdminToken, "level=error"); len(items) != 1 {
		t.Errorf("the admin sees %d error entries, want 1", len(items))
	}

	// A limit keeps its answer (500 naming the limit) and gets an error id and an entry too.
	r = callWithID(t, s, "/apps/logs/spin", "req-spin")
	r.JSON(t, &answer)
	if r.Status != http.StatusInternalServerError || !strings.Contains(answer["error"].(string), "steps limit") || answer["error_id"] == nil {
		t.Fatalf("stopped endpoint answered %d %s", r.Status, r.Body)
	}
	syncLogs(t, s)
	spun := readLogs(t, s, "logs", token, "request_id=req-spin")
	if len(spun) != 1 || spun[0].ErrorID != answer["error_id"] || !strings.Contains(spun[0].Message, "steps limit") {
		t.Errorf("limit entry %+v, want the error id %v", spun, answer["error_id"])
	}

	// Deleting the solution drops its log; a new one of the same id starts empty.
	if r := s.Do(t, "DELETE", "/api/v1/solutions/logs", s.AdminToken, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	createSolution(t, s, "logs", nil)
	if items := readLogs(t, s, "logs", s.AdminToken, ""); len(items) != 0 {
		t.Errorf("a new solution of a deleted one's id reads %d old entries", len(items))
	}
}

// TestDebugMode: with debug on, the caller of a failed endpoint also gets the message and
// line; off again, only the ids.
func TestDebugMode(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	createSolution(t, s, "dbg", nil)
	s.Deploy(t, "dbg", "GET", "/fail", failingScript)
	for _, on := range []bool{true, false} {
		r := s.Do(t, "PATCH", "/api/v1/solutions/dbg", s.AdminToken, map[string]any{"debug": on})
		if r.Status != http.StatusOK || r.Map(t)["debug"] != on {
			t.Fatalf("debug %v: %d %s", on, r.Status, r.Body)
		}
		r = callWithID(t, s, "/apps/dbg/fail", "dbg-req")
		var answer map[string]any
		r.JSON(t, &answer)
		if r.Status != http.StatusInternalServerError || answer["error"] != "script error" || answer["error_id"] == nil || answer["request_id"] != "dbg-req" {
			t.Fatalf("debug %v: %d %s", on, r.Status, r.Body)
		}
		msg, hasMsg := answer["message"].(string)
		if on && (!hasMsg || !strings.Contains(msg, "boom: no user 42") || answer["line"] != 4.0) {
			t.Errorf("debug on: %s, want the message and line 4", r.Body)
		}
		if !on && (hasMsg || answer["line"] != nil) {
			t.Errorf("debug off: %s shows the message or line", r.Body)
		}
	}
	if r := s.Do(t, "PATCH", "/api/v1/solutions/dbg", s.AdminToken, map[string]any{}); r.Status != http.StatusBadRequest {
		t.Errorf("an empty update: %d %s, want 400", r.Status, r.Body)
	}
	r := s.Do(t, "POST", "/api/v1/solutions", s.AdminToken, map[string]any{"id": "dbg2", "debug": true})
	if r.Status != http.StatusCreated || r.Map(t)["debug"] != true {
		t.Errorf("create with debug: %d %s", r.Status, r.Body)
	}
}

// TestHandlerFailureLogged: a handler failing on a synchronous trigger answers with its error
// id and the request id; its entries and the whole error are in the solution's log.
func TestHandlerFailureLogged(t *testing.T) {
	s, auth, _ := decodeFixture(t, func() string { return `{}` })
	r := s.Do(t, "POST", "/api/v1/solutions/demo/handlers", s.AdminToken, map[string]any{
		"name": "bad", "topics": []string{"svc.bad"}, "script": "print(\"handling \" .. event.type)\nerror(\"handler broke\")\n"})
	if r.Status != http.StatusCreated {
		t.Fatalf("deploy handler: %d %s", r.Status, r.Body)
	}
	for _, debug := range []bool{false, true} {
		s.Do(t, "PATCH", "/api/v1/solutions/demo", s.AdminToken, map[string]any{"debug": debug})
		req, _ := http.NewRequest("POST", s.URL+"/api/v1/trigger/demo/svc/bad", strings.NewReader(`{}`))
		req.Header.Set("Authorization", auth)
		req.Header.Set("X-Request-Id", "trig-1")
		r = s.Send(t, req)
		var answer map[string]any
		r.JSON(t, &answer)
		if r.Status != http.StatusInternalServerError || answer["request_id"] != "trig-1" || len(answer["error_id"].(string)) != 16 {
			t.Fatalf("failed trigger answered %d %s", r.Status, r.Body)
		}
		msg, _ := answer["message"].(string)
		if debug != strings.Contains(msg, "handler broke") || debug != (answer["line"] == 2.0) {
			t.Errorf("debug %v: %s", debug, r.Body)
		}
		syncLogs(t, s)
		items := readLogs(t, s, "demo", s.AdminToken, "source="+url.QueryEscape("handler bad")+"&level=error")
		last := items[len(items)-1]
		if last.ErrorID != answer["error_id"] || last.RequestID != "trig-1" || !strings.Contains(last.Message, "handler broke") || last.Line != 2 {
			t.Errorf("handler failure entry %+v", last)
		}
	}
	items := readLogs(t, s, "demo", s.AdminToken, "level=info&source="+url.QueryEscape("handler bad"))
	if len(items) != 4 || items[0].Message != "handling bad" {
		t.Errorf("handler entries %+v", items)
	}
}

// sseReader reads a follow's events.
type sseReader struct {
	sc *bufio.Scanner
}

// next returns the next entry; comments and ids are skipped.
func (r *sseReader) next(t *testing.T) logEntry {
	t.Helper()
	for r.sc.Scan() {
		data, ok := strings.CutPrefix(r.sc.Text(), "data: ")
		if !ok {
			continue
		}
		var e logEntry
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			t.Fatalf("event %q: %v", data, err)
		}
		return e
	}
	t.Fatalf("stream ended: %v", r.sc.Err())
	return logEntry{}
}

func follow(t *testing.T, ctx context.Context, s *hubtest.Server, sol, token, query string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", s.URL+"/api/v1/solutions/"+sol+"/logs?follow=1&"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return http.DefaultClient.Do(req)
}

// TestFollowLogs: a follow gets the entries written before and then each new one as it is
// written; followers of one solution are bounded (429); stopping the server ends them
// rather than holding the shutdown.
func TestFollowLogs(t *testing.T) {
	t.Parallel()
	s := hubtest.Start(t)
	token := createSolution(t, s, "live", nil)
	s.Deploy(t, "live", "GET", "/say", `print("said " .. request.parameters.n)`)
	wantStatus := func(r hubtest.Response) {
		t.Helper()
		if r.Status != http.StatusOK {
			t.Fatalf("call: %d %s", r.Status, r.Body)
		}
	}
	wantStatus(call(t, s, "GET", "/apps/live/say?n=1", 10*time.Second))
	syncLogs(t, s)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := follow(t, ctx, s, "live", token, "level=info")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("follow: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	rd := &sseReader{sc: bufio.NewScanner(resp.Body)}
	if e := rd.next(t); e.Message != "said 1" {
		t.Fatalf("first event %+v, want the entry written before", e)
	}
	wantStatus(call(t, s, "GET", "/apps/live/say?n=2", 10*time.Second))
	if e := rd.next(t); e.Message != "said 2" || e.Source != "endpoint GET /say" {
		t.Fatalf("followed %+v, want the new entry", e)
	}

	// Three more followers fill the solution's slots (4); a fifth is refused.
	for i := range 4 {
		r, err := follow(t, ctx, s, "live", token, "")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		want := http.StatusOK
		if i == 3 {
			want = http.StatusTooManyRequests
		}
		if r.StatusCode != want {
			t.Fatalf("follower %d: %d, want %d", i+2, r.StatusCode, want)
		}
	}

	stopWhileStreaming(t, s, rd.sc)
}

// stopWhileStreaming stops s while streams are connected: it must not wait for them, and the
// stream sc reads must end.
func stopWhileStreaming(t *testing.T, s *hubtest.Server, sc *bufio.Scanner) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Close(t)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not stop while streams were connected")
	}
	for sc.Scan() {
	}
}

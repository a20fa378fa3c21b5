package dynamic

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/script"
	"github.com/switchboardhq/switchboard/internal/service"
)

// TestCallResults checks how the service's answers become results and errors.
func TestCallResults(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
		want        any // the result, when wantStatus is 0
		wantStatus  int
		parts       []string
	}{
		{name: "json object", status: 200, contentType: "application/json", body: `{"a":[1,"x",true,null]}`, want: map[string]any{"a": []any{1.0, "x", true, nil}}},
		{name: "json with charset", status: 201, contentType: "application/json; charset=utf-8", body: `"hi"`, want: "hi"},
		{name: "problem+json", status: 200, contentType: "application/problem+json", body: `3`, want: 3.0},
		{name: "text", status: 200, contentType: "text/plain", body: "hello", want: "hello"},
		{name: "no content", status: 204, want: nil},
		{name: "garbage json", status: 200, contentType: "application/json", body: `{"a":`, wantStatus: 502, parts: []string{"Mapper.search", "invalid JSON"}},
		{name: "4xx json error", status: 404, contentType: "application/json", body: `{"error":"no such item"}`, wantStatus: 404, parts: []string{"no such item"}},
		{name: "4xx json message", status: 422, contentType: "application/json", body: `{"message":"name is taken","code":7}`, wantStatus: 422, parts: []string{"name is taken"}},
		{name: "4xx nested error", status: 409, contentType: "application/json", body: `{"error":{"message":"conflict here"}}`, wantStatus: 409, parts: []string{"conflict here"}},
		{name: "5xx text", status: 500, contentType: "text/plain", body: "boom\n", wantStatus: 500, parts: []string{"boom"}},
		{name: "5xx empty", status: 503, wantStatus: 503, parts: []string{"Service Unavailable"}},
		{name: "redirect not followed", status: 302, contentType: "text/plain", wantStatus: 502, parts: []string{"302"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hits counter
			srv := handlerServer(t, hits.handler(tt.status, tt.contentType, tt.body))
			d := describe(t, "mapper", mapperDoc, srv.URL)
			res, err := New(Options{}).Call(context.Background(), "sol1", d, testToken, "search", nil, nil, "r")
			if tt.wantStatus != 0 {
				wantError(t, err, tt.wantStatus, tt.parts...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// A JSON answer is handed on undecoded, for the calling run to decode charged.
			if b, ok := res.(script.Body); ok {
				if !b.JSON || b.Data != tt.body {
					t.Errorf("result = %#v, want the body %q undecoded", b, tt.body)
				}
				if err := json.Unmarshal([]byte(b.Data), &res); err != nil {
					t.Fatal(err)
				}
			} else if jsonType(tt.contentType) {
				t.Errorf("result = %#v (%T), want a script.Body", res, res)
			}
			if !reflect.DeepEqual(res, tt.want) {
				t.Errorf("result = %#v, want %#v", res, tt.want)
			}
		})
	}
}

// TestCallTransportFailures checks services that break the connection, hang, cannot be
// reached or answer too much.
func TestCallTransportFailures(t *testing.T) {
	closed := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return "http://" + addr
	}
	hijackAndClose := func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"partial\":")
		buf.Flush()
		conn.Close()
	}
	hang := func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
	big := strings.Repeat("x", 2048)
	tests := []struct {
		name    string
		handler http.HandlerFunc // nil: nothing listens
		op      string
		timeout time.Duration // of the caller's context, 0 for none
		status  int
		parts   []string
	}{
		{name: "connection closed mid-response", handler: hijackAndClose, op: "search", status: 502, parts: []string{"closed"}},
		{name: "connection closed before any answer", handler: func(w http.ResponseWriter, r *http.Request) {
			conn, _, _ := http.NewResponseController(w).Hijack()
			conn.Close()
		}, op: "search", status: 502, parts: []string{"unreachable"}},
		{name: "unreachable", op: "search", status: 502, parts: []string{"unreachable", "refused"}},
		{name: "hanging vs operation timeout", handler: hang, op: "slow", status: 504, parts: []string{"50ms"}},
		{name: "hanging vs caller's deadline", handler: hang, op: "search", timeout: 50 * time.Millisecond, status: 504},
		{name: "large response with length", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`"` + big + `"`))
		}, op: "search", status: 502, parts: []string{"1024 bytes"}},
		{name: "large response chunked", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			bw := bufio.NewWriterSize(w, 256)
			for range 8 {
				bw.WriteString(big[:256])
				bw.Flush()
				http.NewResponseController(w).Flush()
			}
		}, op: "search", status: 502, parts: []string{"1024 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := closed(t)
			if tt.handler != nil {
				base = handlerServer(t, tt.handler).URL
			}
			d := describe(t, "mapper", mapperDoc, base)
			ctx := context.Background()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			start := time.Now()
			_, err := New(Options{MaxResponseBytes: 1024}).Call(ctx, "sol1", d, testToken, tt.op, nil, nil, "r")
			wantError(t, err, tt.status, tt.parts...)
			if el := time.Since(start); el > time.Second {
				t.Errorf("took %s", el)
			}
		})
	}
}

// TestHangingServiceDoesNotBlockOthers checks a call to a service that never answers holds up
// no call to another service.
func TestHangingServiceDoesNotBlockOthers(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	slow := handlerServer(t, func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	fast := echoServer(t)
	iv := New(Options{})
	done := make(chan error, 1)
	go func() {
		_, err := iv.Call(context.Background(), "sol1", describe(t, "weather", weatherDoc, slow.URL), testToken, "current", map[string]any{"city": "x"}, nil, "r1")
		done <- err
	}()
	<-entered
	for i := range 20 {
		if _, err := iv.Call(context.Background(), "sol1", describe(t, "mapper", mapperDoc, fast.URL), testToken, "search", nil, nil, "r2"); err != nil {
			t.Fatalf("call %d to the other service: %v", i, err)
		}
	}
	close(release)
	if err := <-done; err != nil {
		t.Errorf("slow call: %v", err)
	}
}

// TestCallAnswerLimit: a call made for a script run stops reading an answer past what the run
// may hold (its script.AnswerBudget), with an error wrapping script.ErrAnswerTooLarge, not a
// service.Error (the bound is the caller's); an answer within it is handed on.
func TestCallAnswerLimit(t *testing.T) {
	body := `[` + strings.Repeat(`{},`, 1000) + `{}]`
	tests := []struct {
		name    string
		chunked bool
		limit   int64
		tooBig  bool
	}{
		{"with length, over", false, 1000, true},
		{"chunked, over", true, 1000, true},
		{"within", false, 10000, false},
		{"over the invoker's own bound only", false, 1 << 30, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := handlerServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if tt.chunked {
					http.NewResponseController(w).Flush()
				}
				w.Write([]byte(body)) //nolint:errcheck // test peer
			})
			d := describe(t, "mapper", mapperDoc, srv.URL)
			ctx := script.WithAnswerBudget(context.Background(), script.NewAnswerBudget(tt.limit))
			res, err := New(Options{}).Call(ctx, "sol1", d, testToken, "search", nil, nil, "r")
			if !tt.tooBig {
				if b, ok := res.(script.Body); err != nil || !ok || b.Data != body {
					t.Fatalf("got %T, %v; want the answer", res, err)
				}
				return
			}
			var se *service.Error
			if !errors.Is(err, script.ErrAnswerTooLarge) || errors.As(err, &se) {
				t.Fatalf("error %v (%T), want one wrapping script.ErrAnswerTooLarge", err, err)
			}
		})
	}
}

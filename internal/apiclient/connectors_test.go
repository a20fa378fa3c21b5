package apiclient

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"testing"
)

func TestConnectorRequestShapes(t *testing.T) {
	ctx := context.Background()
	cJSON := `{"name":"tick","type":"cron","topic":"ticks.second","config":{"schedule":"@every 1s"},"paused":false,"version":2,"updated_at":"2026-01-02T03:04:05Z","status":{"state":"running","instance":"a","received":3,"published":2,"rejected":1}}`
	conn := Connector{Name: "tick", Type: "cron", Topic: "ticks.second", Config: json.RawMessage(`{"schedule":"@every 1s"}`), Version: 2, UpdatedAt: created,
		Status: ConnectorStatus{State: "running", Instance: "a", Received: 3, Published: 2, Rejected: 1}}
	spec := ConnectorSpec{Name: "tick", Type: "cron", Topic: "ticks.second", Config: json.RawMessage(`{"schedule":"@every 1s"}`)}
	tests := []struct {
		name   string
		status int
		answer string
		call   func(c *Client) (any, error)
		method string
		path   string
		body   map[string]any
		want   any
	}{
		{
			name: "connector types", status: 200, answer: `{"items":[{"type":"cron","description":"d","schema":{"type":"object"},"secrets":[],"inbound":false}]}`,
			call:   func(c *Client) (any, error) { return c.ConnectorTypes(ctx) },
			method: "GET", path: "/api/v1/connector-types",
			want: []ConnectorType{{Type: "cron", Description: "d", Schema: json.RawMessage(`{"type":"object"}`), Secrets: []string{}}},
		},
		{
			name: "create connector", status: 201, answer: cJSON,
			call:   func(c *Client) (any, error) { return c.CreateConnector(ctx, "demo", spec) },
			method: "POST", path: "/api/v1/solutions/demo/connectors",
			body: map[string]any{"name": "tick", "type": "cron", "topic": "ticks.second", "config": map[string]any{"schedule": "@every 1s"}},
			want: conn,
		},
		{
			name: "list connectors", status: 200, answer: `{"items":[` + cJSON + `]}`,
			call:   func(c *Client) (any, error) { return c.ListConnectors(ctx, "demo") },
			method: "GET", path: "/api/v1/solutions/demo/connectors",
			want: []Connector{conn},
		},
		{
			name: "get connector", status: 200, answer: cJSON,
			call:   func(c *Client) (any, error) { return c.GetConnector(ctx, "demo", "tick") },
			method: "GET", path: "/api/v1/solutions/demo/connectors/tick",
			want: conn,
		},
		{
			name: "update connector sends no name", status: 200, answer: cJSON,
			call:   func(c *Client) (any, error) { return c.UpdateConnector(ctx, "demo", "tick", spec) },
			method: "PUT", path: "/api/v1/solutions/demo/connectors/tick",
			body: map[string]any{"type": "cron", "topic": "ticks.second", "config": map[string]any{"schedule": "@every 1s"}},
			want: conn,
		},
		{
			name: "delete connector", status: 204,
			call:   func(c *Client) (any, error) { return nil, c.DeleteConnector(ctx, "demo", "tick") },
			method: "DELETE", path: "/api/v1/solutions/demo/connectors/tick",
		},
		{
			name: "pause connector", status: 200, answer: cJSON,
			call:   func(c *Client) (any, error) { return c.PauseConnector(ctx, "demo", "tick") },
			method: "POST", path: "/api/v1/solutions/demo/connectors/tick/pause",
			want: conn,
		},
		{
			name: "resume connector", status: 200, answer: cJSON,
			call:   func(c *Client) (any, error) { return c.ResumeConnector(ctx, "demo", "tick") },
			method: "POST", path: "/api/v1/solutions/demo/connectors/tick/resume",
			want: conn,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, seen := answerWith(t, tt.status, tt.answer)
			got, err := tt.call(c)
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			rec := <-seen
			if rec.method != tt.method || rec.rawPath != tt.path {
				t.Errorf("request = %s %s, want %s %s", rec.method, rec.rawPath, tt.method, tt.path)
			}
			if !reflect.DeepEqual(rec.body, tt.body) {
				t.Errorf("body = %#v, want %#v", rec.body, tt.body)
			}
			if tt.want != nil && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("result = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestConnectorEmptyNames(t *testing.T) {
	c := New("http://switchboard.test", "", WithHTTPClient(&http.Client{Transport: roundTripper(func(*http.Request) (*http.Response, error) {
		t.Error("request sent for an empty name")
		return nil, errors.New("unreachable")
	})}))
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"CreateConnector":          func() error { _, err := c.CreateConnector(ctx, "demo", ConnectorSpec{Type: "cron"}); return err },
		"CreateConnector solution": func() error { _, err := c.CreateConnector(ctx, "", ConnectorSpec{Name: "x"}); return err },
		"ListConnectors":           func() error { _, err := c.ListConnectors(ctx, ""); return err },
		"GetConnector":             func() error { _, err := c.GetConnector(ctx, "demo", ""); return err },
		"UpdateConnector":          func() error { _, err := c.UpdateConnector(ctx, "demo", "", ConnectorSpec{}); return err },
		"DeleteConnector":          func() error { return c.DeleteConnector(ctx, "", "x") },
		"PauseConnector":           func() error { _, err := c.PauseConnector(ctx, "demo", ""); return err },
		"ResumeConnector":          func() error { _, err := c.ResumeConnector(ctx, "demo", ""); return err },
	} {
		if err := call(); err == nil {
			t.Errorf("%s with an empty name succeeded", name)
		}
	}
}

package config

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/service"
)

type fakeCatalog struct{}

func (fakeCatalog) Visible(string) []service.Spec {
	return []service.Spec{
		{Name: "config", Kind: service.KindCore, Operations: []service.Operation{{Name: "listServices"}}},
		{Name: "keystore", Kind: service.KindCore, Description: "kv", Operations: []service.Operation{{Name: "get"}, {Name: "set"}}},
		{Name: "demoexternalservice", Kind: service.KindDynamic, Operations: []service.Operation{{Name: "callService"}}},
	}
}

func (fakeCatalog) Parameters(_, name string) (map[string]any, bool) {
	switch name {
	case "keystore":
		return nil, true
	case "demoexternalservice":
		return map[string]any{"region": "eu"}, true
	}
	return nil, false
}

type fakeSolutions struct{}

func (fakeSolutions) Info(id string) (SolutionInfo, bool) {
	if id != "demo" {
		return SolutionInfo{}, false
	}
	return SolutionInfo{ID: "demo", CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Limits: map[string]any{"steps": float64(5)}}, true
}

func TestCall(t *testing.T) {
	s := New(fakeCatalog{}, fakeSolutions{})
	names := func(v any) []string {
		var out []string
		for _, it := range v.([]any) {
			out = append(out, it.(map[string]any)["service"].(string))
		}
		return out
	}
	tests := []struct {
		name, solution, op string
		args               any
		check              func(t *testing.T, v any)
		status             int // 0 = success
	}{
		{"listServices", "demo", "listServices", nil, func(t *testing.T, v any) {
			if got := names(v); !reflect.DeepEqual(got, []string{"config", "keystore", "demoexternalservice"}) {
				t.Fatalf("services = %v", got)
			}
			ks := v.([]any)[1].(map[string]any)
			if ks["alias"] != "Keystore" || ks["type"] != "core" || !reflect.DeepEqual(ks["operations"], []any{"get", "set"}) {
				t.Fatalf("keystore item = %v", ks)
			}
		}, 0},
		{"seed spelling", "demo", "listservices", nil, func(t *testing.T, v any) {
			if len(names(v)) != 3 {
				t.Fatalf("listservices = %v", v)
			}
		}, 0},
		{"type filter", "demo", "listServices", map[string]any{"type": "dynamic"}, func(t *testing.T, v any) {
			if got := names(v); !reflect.DeepEqual(got, []string{"demoexternalservice"}) {
				t.Fatalf("dynamic services = %v", got)
			}
		}, 0},
		{"bad type filter", "demo", "listServices", map[string]any{"type": "other"}, nil, 400},
		{"getParameters", "demo", "getParameters", map[string]any{"service": "Demoexternalservice"}, func(t *testing.T, v any) {
			if !reflect.DeepEqual(v, map[string]any{"region": "eu"}) {
				t.Fatalf("parameters = %v", v)
			}
		}, 0},
		{"getParameters none", "demo", "getParameters", map[string]any{"service": "keystore"}, func(t *testing.T, v any) {
			if !reflect.DeepEqual(v, map[string]any{}) {
				t.Fatalf("parameters = %v", v)
			}
		}, 0},
		{"getParameters not added", "demo", "getParameters", map[string]any{"service": "nope"}, nil, 404},
		{"getParameters without service", "demo", "getParameters", map[string]any{}, nil, 400},
		{"solution", "demo", "solution", nil, func(t *testing.T, v any) {
			m := v.(map[string]any)
			if m["id"] != "demo" || m["created_at"] != "2026-01-02T03:04:05Z" {
				t.Fatalf("solution = %v", m)
			}
		}, 0},
		{"solution unknown", "gone", "solution", nil, nil, 404},
		{"unknown operation", "demo", "reboot", nil, nil, 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := s.Call(context.Background(), tc.solution, tc.op, tc.args)
			if tc.status != 0 {
				var se *service.Error
				if !errors.As(err, &se) || se.Status != tc.status {
					t.Fatalf("error = %v, want status %d", err, tc.status)
				}
				return
			}
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			tc.check(t, v)
		})
	}
}

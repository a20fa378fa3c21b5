package events

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/internal/script"
	"github.com/switchboardhq/switchboard/internal/solution"
)

func TestNormalizeHandler(t *testing.T) {
	many := make([]string, MaxTopics+1)
	for i := range many {
		many[i] = "svc.e" + string(rune('a'+i))
	}
	tests := []struct {
		name       string
		in         Handler
		wantTopics []string
		wantField  string // a *solution.FieldError on this field
		wantLine   int    // a *script.CompileError on this line
	}{
		{name: "murano name gives the topic", in: Handler{Name: "demoexternalservice_event", Script: "return 1"}, wantTopics: []string{"demoexternalservice.event"}},
		{name: "murano event with underscores", in: Handler{Name: "websocket_websocket_info", Script: "return 1"}, wantTopics: []string{"websocket.websocket_info"}},
		{name: "given topics win over the name", in: Handler{Name: "timer_timer", Topics: []string{"a.b", "c"}, Script: "return 1"}, wantTopics: []string{"a.b", "c"}},
		{name: "repeated topics kept once", in: Handler{Name: "h", Topics: []string{"a.b", "c", "a.b"}, Script: "return 1"}, wantTopics: []string{"a.b", "c"}},
		{name: "name without service part needs topics", in: Handler{Name: "lonely", Script: "return 1"}, wantField: "topics"},
		{name: "name with empty event part", in: Handler{Name: "svc_", Script: "return 1"}, wantField: "topics"},
		{name: "upper-case name", in: Handler{Name: "Svc_event", Script: "return 1"}, wantField: "name"},
		{name: "empty name", in: Handler{Script: "return 1"}, wantField: "name"},
		{name: "name with a dot", in: Handler{Name: "svc.event", Script: "return 1"}, wantField: "name"},
		{name: "name too long", in: Handler{Name: strings.Repeat("a", 64), Topics: []string{"t"}, Script: "return 1"}, wantField: "name"},
		{name: "wildcard topics", in: Handler{Name: "h", Topics: []string{"a.*", "a.>", "*.b.>", ">"}, Script: "return 1"}, wantTopics: []string{"a.*", "a.>", "*.b.>", ">"}},
		{name: "wildcard inside a segment", in: Handler{Name: "h", Topics: []string{"a.b", "a.b*"}, Script: "return 1"}, wantField: "topics[1]"},
		{name: "'>' not last", in: Handler{Name: "h", Topics: []string{"a.>.b"}, Script: "return 1"}, wantField: "topics[0]"},
		{name: "'>' inside a segment", in: Handler{Name: "h", Topics: []string{"a.b>"}, Script: "return 1"}, wantField: "topics[0]"},
		{name: "topic with empty segment", in: Handler{Name: "h", Topics: []string{"a..b"}, Script: "return 1"}, wantField: "topics[0]"},
		{name: "empty topic", in: Handler{Name: "h", Topics: []string{"a", ""}, Script: "return 1"}, wantField: "topics[1]"},
		{name: "upper-case topic", in: Handler{Name: "h", Topics: []string{"A.b"}, Script: "return 1"}, wantField: "topics[0]"},
		{name: "too many topics", in: Handler{Name: "h", Topics: many, Script: "return 1"}, wantField: "topics"},
		{name: "empty script", in: Handler{Name: "svc_event"}, wantField: "script"},
		{name: "blank script", in: Handler{Name: "svc_event", Script: " \n\t"}, wantField: "script"},
		{name: "script too long", in: Handler{Name: "svc_event", Script: "--" + strings.Repeat("x", solution.MaxScriptBytes)}, wantField: "script"},
		{name: "script that does not compile", in: Handler{Name: "svc_event", Script: "return 1\nlocal = 2"}, wantLine: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NormalizeHandler(tc.in)
			var fe *solution.FieldError
			var ce *script.CompileError
			switch {
			case tc.wantField != "":
				if !errors.As(err, &fe) || fe.Field != tc.wantField {
					t.Fatalf("error %v (%T), want a field error on %q", err, err, tc.wantField)
				}
			case tc.wantLine != 0:
				if !errors.As(err, &ce) || ce.Line != tc.wantLine {
					t.Fatalf("error %v (%T), want a compile error on line %d", err, err, tc.wantLine)
				}
			default:
				if err != nil {
					t.Fatalf("error %v", err)
				}
				if !reflect.DeepEqual(got.Topics, tc.wantTopics) {
					t.Fatalf("topics %q, want %q", got.Topics, tc.wantTopics)
				}
			}
		})
	}
}

func TestMatchTopic(t *testing.T) {
	tests := []struct {
		sub, topic string
		want       bool
	}{
		{"orders.created", "orders.created", true},
		{"orders.created", "orders.deleted", false},
		{"orders.created", "orders", false},
		{"orders", "orders.created", false},
		{"orders.*", "orders.created", true},
		{"orders.*", "orders", false},
		{"orders.*", "orders.created.eu", false},
		{"orders.*", "ordersx.created", false},
		{"*.created", "orders.created", true},
		{"*.created", "orders.deleted", false},
		{"*", "orders", true},
		{"*", "orders.created", false},
		{"orders.>", "orders.created", true},
		{"orders.>", "orders.created.eu", true},
		{"orders.>", "orders", false},
		{"orders.*.>", "orders.created.eu", true},
		{"orders.*.>", "orders.created", false},
		{">", "orders", true},
		{">", "orders.created.eu", true},
		{"a.*.c", "a.b.c", true},
		{"a.*.c", "a.b.d", false},
	}
	for _, tc := range tests {
		if got := MatchTopic(tc.sub, tc.topic); got != tc.want {
			t.Errorf("MatchTopic(%q, %q) = %v, want %v", tc.sub, tc.topic, got, tc.want)
		}
	}
}

func TestValidateTopicRefusesWildcards(t *testing.T) {
	for _, topic := range []string{"orders.*", "orders.>", "*", ">", "a.b*"} {
		if err := ValidateTopic(topic); err == nil {
			t.Errorf("ValidateTopic(%q) accepted a wildcard; published topics name one subject", topic)
		}
	}
	if err := ValidateTopic("orders.created"); err != nil {
		t.Errorf("ValidateTopic(orders.created): %v", err)
	}
}

package service

import (
	"errors"
	"testing"
)

func TestClosest(t *testing.T) {
	ops := []string{"get", "set", "delete", "postMessage", "listMessages"}
	cases := []struct {
		name, want string
	}{
		{"gte", "get"},
		{"postmessage", "postMessage"},
		{"postMesage", "postMessage"},
		{"del", ""}, // a prefix, three edits away
		{"sned", ""},
		{"completelyDifferent", ""},
		{"", ""},
	}
	for _, tc := range cases {
		if got := Closest(tc.name, ops); got != tc.want {
			t.Errorf("Closest(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestUnknownOperationError(t *testing.T) {
	cases := []struct {
		name string
		err  *UnknownOperationError
		want string
	}{
		{"a typo", &UnknownOperationError{Service: "Sms", Operation: "postMesage", Operations: []string{"postMessage", "status"}},
			`Sms has no operation "postMesage"; its operations: postMessage, status; did you mean "postMessage"?`},
		{"no near name", &UnknownOperationError{Service: "Sms", Operation: "sned", Operations: []string{"postMessage", "status"}},
			`Sms has no operation "sned"; its operations: postMessage, status`},
		{"no operations", &UnknownOperationError{Service: "Empty", Operation: "x"}, `Empty has no operation "x"; it has no operations`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
			var se *Error
			if !errors.As(tc.err, &se) || se.Status != 404 || se.Message != tc.want {
				t.Fatalf("as *Error: %+v", se)
			}
		})
	}
}

package kaa

import "testing"

func TestSubjects(t *testing.T) {
	s, err := InvocationSubject("tr-1", "email-notification")
	if err != nil || s != "kaa.v1.events.tr-1.service.automation.email-notification" {
		t.Fatalf("InvocationSubject: %q, %v", s, err)
	}
	if s, err := ExecutorSubject("*", "*"); err != nil || s != "kaa.v1.events.*.service.automation.*" {
		t.Fatalf("ExecutorSubject: %q, %v", s, err)
	}
	for _, bad := range []struct{ instance, typ string }{{"", "x"}, {"a.b", "x"}, {"a", "x.y"}, {"a", ">"}, {"a b", "x"}, {"*", "x"}} {
		if _, err := InvocationSubject(bad.instance, bad.typ); err == nil {
			t.Errorf("InvocationSubject(%q, %q) accepted", bad.instance, bad.typ)
		}
	}
	for _, tc := range []struct {
		subject, instance, typ string
		ok                     bool
	}{
		{"kaa.v1.events.tr-1.service.automation.email-notification", "tr-1", "email-notification", true},
		{"kaa.v1.events.tr-1.service.automation.a.b", "", "", false},
		{"kaa.v1.events.tr-1.endpoint.lifecycle.created", "", "", false},
		{"kaa.v1.events..service.automation.x", "", "", false},
		{"kaa.v1.service.tr-1.aip.invoke", "", "", false},
		{"kaa.v1.events.a.b.service.automation.x", "", "", false},
	} {
		instance, typ, ok := ParseInvocationSubject(tc.subject)
		if ok != tc.ok || instance != tc.instance || typ != tc.typ {
			t.Errorf("%s: %q %q %v, want %q %q %v", tc.subject, instance, typ, ok, tc.instance, tc.typ, tc.ok)
		}
	}
}

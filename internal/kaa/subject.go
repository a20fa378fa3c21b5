package kaa

import (
	"fmt"
	"strings"
)

// An automation's subject, per 23/AIP on 3/ISM's broadcast form
// kaa.v1.events.{originator-service-instance-name}.{target-entity-type}.{event-group}.{event-type}:
// kaa.v1.events.<trigger-instance>.service.automation.<automation-type>.
const (
	subjectPrefix = "kaa.v1.events."
	subjectMiddle = ".service.automation."
)

// InvocationSubject is where a trigger instance publishes invocations of automation type typ.
func InvocationSubject(instance, typ string) (string, error) {
	if err := checkToken("instance name", instance); err != nil {
		return "", err
	}
	if err := checkToken("automation type", typ); err != nil {
		return "", err
	}
	return subjectPrefix + instance + subjectMiddle + typ, nil
}

// ExecutorSubject is what an executor subscribes to: instance and typ are a name, or "*"
// for any.
func ExecutorSubject(instance, typ string) (string, error) {
	for _, f := range []struct{ what, v string }{{"instance name", instance}, {"automation type", typ}} {
		if f.v == "*" {
			continue
		}
		if err := checkToken(f.what, f.v); err != nil {
			return "", err
		}
	}
	return subjectPrefix + instance + subjectMiddle + typ, nil
}

// ParseInvocationSubject is the trigger instance and automation type of an invocation's
// subject; ok is false for any other subject (extra tokens included).
func ParseInvocationSubject(subject string) (instance, typ string, ok bool) {
	rest, found := strings.CutPrefix(subject, subjectPrefix)
	if !found {
		return "", "", false
	}
	instance, typ, found = strings.Cut(rest, subjectMiddle)
	if !found || checkToken("", instance) != nil || checkToken("", typ) != nil {
		return "", "", false
	}
	return instance, typ, true
}

// checkToken refuses what cannot be one token of a NATS subject: empty, a wildcard, a dot,
// white space or control characters.
func checkToken(what, v string) error {
	if v == "" {
		return fmt.Errorf("%s: empty", what)
	}
	for _, c := range v {
		if c == '.' || c == '*' || c == '>' || c <= ' ' || c == 0x7f {
			return fmt.Errorf("%s %q: one subject token, without '.', '*', '>', spaces or control characters", what, v)
		}
	}
	return nil
}

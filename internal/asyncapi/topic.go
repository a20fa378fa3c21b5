package asyncapi

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// The topics of Switchboard's event bus (internal/events: TopicPattern, MaxTopicBytes),
// repeated here so that this package depends on no other; topic_test.go checks they agree.
var (
	topicPattern   = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$`)
	segmentPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
)

const maxTopicBytes = 255

// Topic is the Switchboard topic of a channel of an application: the application, then the
// channel's segments, joined by dots. A channel name maps to segments by this rule:
//   - "/" and "." separate segments; a leading or trailing "/" is dropped
//     ("/rooms/x" is "rooms.x"), an empty segment elsewhere ("a//b") is refused;
//   - letters are lower-cased ("user/signedUp" is "user.signedup");
//   - a parameter stands for itself, without braces: "light/{streetlightId}/on" is
//     "light.streetlightid.on". A topic names no value of a parameter, as a topic cannot
//     be a wildcard: events for every streetlight go to the one topic, and say which
//     streetlight in their data;
//   - a segment then holds only letters, digits, "_" and "-", and starts with a letter or
//     digit; any other character ("user:created", "a b", "ü") refuses the channel.
//
// The application is one such segment already (lower-case, no dots), and the whole topic
// is at most 255 bytes. Two channels may map to one topic ("a/b" and "a.B"): see Topics.
func Topic(application, channel string) (string, error) {
	if !segmentPattern.MatchString(application) {
		return "", fmt.Errorf("application %q: must be one topic segment: lower-case letters, digits, '_' and '-', starting with a letter or digit", application)
	}
	segs, err := channelSegments(channel)
	if err != nil {
		return "", fmt.Errorf("channel %q: %w", channel, err)
	}
	topic := application + "." + strings.Join(segs, ".")
	if len(topic) > maxTopicBytes {
		return "", fmt.Errorf("channel %q: topic %q is %d bytes, more than %d", channel, topic, len(topic), maxTopicBytes)
	}
	if !topicPattern.MatchString(topic) {
		// The rule above allows nothing else; this is a guard against its changing alone.
		return "", fmt.Errorf("channel %q: %q is not a valid topic", channel, topic)
	}
	return topic, nil
}

func channelSegments(channel string) ([]string, error) {
	name := strings.Trim(channel, "/")
	if name == "" {
		return nil, errors.New("names no segment")
	}
	var segs []string
	for _, seg := range splitAny(name, "/.") {
		if seg == "" {
			return nil, errors.New("has an empty segment")
		}
		s, err := mapSegment(seg)
		if err != nil {
			return nil, err
		}
		segs = append(segs, s)
	}
	return segs, nil
}

// mapSegment maps one segment of a channel name to a topic segment.
func mapSegment(seg string) (string, error) {
	var b strings.Builder
	open := false
	for _, r := range seg {
		switch {
		case r == '{' && !open:
			open = true
		case r == '}' && open:
			open = false
		case r == '{' || r == '}':
			return "", fmt.Errorf("segment %q: unbalanced braces", seg)
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r + 'a' - 'A')
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		default:
			return "", fmt.Errorf("segment %q: character %q cannot be in a topic (letters, digits, '_' and '-' only)", seg, r)
		}
	}
	if open {
		return "", fmt.Errorf("segment %q: unbalanced braces", seg)
	}
	s := b.String()
	if !segmentPattern.MatchString(s) {
		return "", fmt.Errorf("segment %q: a topic segment starts with a letter or digit", seg)
	}
	return s, nil
}

// splitAny splits s at each byte of seps, keeping empty fields.
func splitAny(s, seps string) []string {
	var out []string
	for {
		i := strings.IndexAny(s, seps)
		if i < 0 {
			return append(out, s)
		}
		out = append(out, s[:i])
		s = s[i+1:]
	}
}

// Topics are the topics of every channel of spec for application, in the order of
// spec.Channels. Channels that map to the same topic are refused: their events would mix.
func (s *Spec) Topics(application string) ([]string, error) {
	out := make([]string, 0, len(s.Channels))
	seen := make(map[string]string, len(s.Channels))
	for _, ch := range s.Channels {
		t, err := Topic(application, ch.Name)
		if err != nil {
			return nil, err
		}
		if other, dup := seen[t]; dup {
			return nil, fmt.Errorf("channels %q and %q both map to topic %q", other, ch.Name, t)
		}
		seen[t] = ch.Name
		out = append(out, t)
	}
	return out, nil
}

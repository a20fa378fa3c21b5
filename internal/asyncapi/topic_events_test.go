package asyncapi_test

import (
	"testing"

	"github.com/switchboardhq/switchboard/internal/asyncapi"
	"github.com/switchboardhq/switchboard/internal/events"
)

// TestTopicsAreEventTopics: what Topic gives, the event bus takes (the package repeats the
// bus's rule rather than depend on it).
func TestTopicsAreEventTopics(t *testing.T) {
	for _, ch := range []string{"user/signedup", "/rooms/{roomId}/{resource}", "a/B/c_d-e/0"} {
		topic, err := asyncapi.Topic("app", ch)
		if err != nil {
			t.Fatal(err)
		}
		if !events.TopicPattern.MatchString(topic) || len(topic) > events.MaxTopicBytes {
			t.Errorf("%q is not an events topic", topic)
		}
	}
	if asyncapi.TopicPattern.String() != events.TopicPattern.String() || asyncapi.MaxTopicBytes != events.MaxTopicBytes {
		t.Errorf("topic rule %s (%d bytes), events has %s (%d)", asyncapi.TopicPattern, asyncapi.MaxTopicBytes, events.TopicPattern, events.MaxTopicBytes)
	}
}

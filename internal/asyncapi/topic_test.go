package asyncapi

import (
	"strings"
	"testing"
)

func TestTopic(t *testing.T) {
	tests := []struct {
		app, channel, want, err string
	}{
		{"shop", "user/signedup", "shop.user.signedup", ""},
		{"shop", "order.created.v1", "shop.order.created.v1", ""},
		{"shop", "/rooms/{roomId}/{resource}", "shop.rooms.roomid.resource", ""},
		{"lights", "smartylighting/streetlights/1/0/event/{streetlightId}/lighting/measured",
			"lights.smartylighting.streetlights.1.0.event.streetlightid.lighting.measured", ""},
		{"shop", "user/signedUp", "shop.user.signedup", ""},
		{"shop", "user_profile/changed-v2", "shop.user_profile.changed-v2", ""},
		{"shop", "devices/dev-{id}", "shop.devices.dev-id", ""},
		{"shop", "rpc_queue/", "shop.rpc_queue", ""},
		{"Shop", "a", "", "application"},
		{"shop.eu", "a", "", "application"},
		{"", "a", "", "application"},
		{"shop", "", "", "names no segment"},
		{"shop", "/", "", "names no segment"},
		{"shop", "a//b", "", "empty segment"},
		{"shop", "a..b", "", "empty segment"},
		{"shop", "user:created", "", `character ':'`},
		{"shop", "order created", "", `character ' '`},
		{"shop", "bestellung/geändert", "", `character 'ä'`},
		{"shop", "a/_private", "", "starts with a letter or digit"},
		{"shop", "a/{}", "", "starts with a letter or digit"},
		{"shop", "a/{id", "", "unbalanced braces"},
		{"shop", "a/id}", "", "unbalanced braces"},
		{"shop", "a/{{id}}", "", "unbalanced braces"},
		{"shop", "a/*", "", `character '*'`},
		{"shop", "a/>", "", `character '>'`},
		{"shop", strings.Repeat("abcdefgh/", 30), "", "more than 255"},
	}
	for _, tt := range tests {
		t.Run(tt.app+" "+tt.channel, func(t *testing.T) {
			got, err := Topic(tt.app, tt.channel)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Topic = %q, %v; want an error containing %q", got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Topic = %q, %v; want %q", got, err, tt.want)
			}
			if !topicPattern.MatchString(got) || len(got) > maxTopicBytes {
				t.Errorf("%q is not a topic", got)
			}
		})
	}
}

func TestSpecTopics(t *testing.T) {
	spec := &Spec{Channels: []Channel{{Name: "user/signedup"}, {Name: "user/deleted"}}}
	got, err := spec.Topics("shop")
	if err != nil || strings.Join(got, " ") != "shop.user.signedup shop.user.deleted" {
		t.Errorf("Topics = %q, %v", got, err)
	}
	spec.Channels = append(spec.Channels, Channel{Name: "user.signedUp"})
	if _, err := spec.Topics("shop"); err == nil || !strings.Contains(err.Error(), "both map to topic") {
		t.Errorf("colliding channels: %v", err)
	}
	spec.Channels = []Channel{{Name: "a?b"}}
	if _, err := spec.Topics("shop"); err == nil {
		t.Error("a channel that maps to no topic gave no error")
	}
}

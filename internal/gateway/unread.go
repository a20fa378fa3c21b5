package gateway

import (
	"log/slog"
	"sync"
	"time"

	"github.com/switchboardhq/switchboard/internal/events"
)

// maxNoticed bounds the topics remembered as told about: past it the memory starts afresh
// (some topics are told about again sooner, none is remembered without bound).
const maxNoticed = 4096

// noticeUnread tells the solution's log that an event of app was taken but nobody subscribes
// to its topic, so it is not kept: at most once a minute for a topic.
func (g *Gateway) noticeUnread(app Application, e events.Event) {
	if g.o.SolutionLog == nil || !g.unread.due(e.Solution+"\x00"+e.Topic, time.Now()) {
		return
	}
	if log := g.o.SolutionLog(e.Solution); log != nil {
		log(slog.LevelWarn, "event gateway: no handler subscribes to topic "+e.Topic+"; events of application "+app.Name+" to it are taken and not kept (said at most once a minute)",
			map[string]any{"application": app.Name, "topic": e.Topic, "event_id": e.ID})
	}
}

// noticeMQTTRefusal tells the solution's log why an event published over MQTT was refused:
// MQTT 3.1.1 cannot answer a publish, so this is where its sender's developers find out. The
// same refusal is said at most once a minute.
func (g *Gateway) noticeMQTTRefusal(sol, app, topic string, me *MQTTError) {
	if g.o.SolutionLog == nil || sol == "" || !g.unread.due(sol+"\x00"+app+"\x00"+me.Reason+"\x00"+me.Message, time.Now()) {
		return
	}
	if log := g.o.SolutionLog(sol); log != nil {
		log(slog.LevelWarn, "event gateway: an event published over MQTT was refused: "+me.Message,
			map[string]any{"application": app, "mqtt_topic": clip(topic), "field": me.Field, "reason": me.Reason})
	}
}

// everyMinute says whether a key is due to be told about again.
type everyMinute struct {
	max  int
	mu   sync.Mutex
	last map[string]time.Time
}

func newEveryMinute(max int) *everyMinute {
	return &everyMinute{max: max, last: map[string]time.Time{}}
}

func (m *everyMinute) due(key string, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t, ok := m.last[key]; ok && now.Sub(t) < time.Minute {
		return false
	}
	if len(m.last) >= m.max {
		clear(m.last)
	}
	m.last[key] = now
	return true
}

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

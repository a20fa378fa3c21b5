package hub

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboardhq/switchboard/internal/core/keystore"
)

// registerKeystoreMetrics exposes the Keystore's counters, read at each scrape.
func registerKeystoreMetrics(reg prometheus.Registerer, ks *keystore.Store) {
	counter := func(name, help string, get func(keystore.Stats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(get(ks.Stats())) })
	}
	reg.MustRegister(
		counter("switchboard_keystore_catchup_rounds_total", "Catch-up rounds: requests to a bucket's stream leader before a SET of the value a key holds, when other instances may write.",
			func(s keystore.Stats) int64 { return s.CatchUpRounds }),
		counter("switchboard_keystore_fences_taken_total", "Buckets this instance fenced as their only writer.",
			func(s keystore.Stats) int64 { return s.FencesTaken }),
		counter("switchboard_keystore_fence_releases_asked_total", "Writes that found a bucket fenced by another instance and asked it to give the fence up.",
			func(s keystore.Stats) int64 { return s.ReleasesAsked }),
		counter("switchboard_keystore_fence_releases_given_total", "Fences this instance gave up at another instance's request.",
			func(s keystore.Stats) int64 { return s.ReleasesGiven }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "switchboard_keystore_fences_held", Help: "Buckets this instance holds fenced, answering SETs of the value a key holds from memory."},
			func() float64 { return float64(ks.Stats().FencesHeld) }),
	)
}

package hub

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboardhq/switchboard/internal/core/keystore"
)

// keystoreCollector exposes the Keystore's counters, read once per scrape.
type keystoreCollector struct {
	ks                                      *keystore.Store
	rounds, taken, asked, given, heldFences *prometheus.Desc
}

func newKeystoreCollector(ks *keystore.Store) *keystoreCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &keystoreCollector{
		ks:         ks,
		rounds:     d("switchboard_keystore_catchup_rounds_total", "Catch-up rounds: requests to a bucket's stream leader before a SET of the value a key holds, when other instances may write."),
		taken:      d("switchboard_keystore_fences_taken_total", "Buckets this instance fenced as their only writer."),
		asked:      d("switchboard_keystore_fence_releases_asked_total", "Writes that found a bucket fenced by another instance and asked it to give the fence up."),
		given:      d("switchboard_keystore_fence_releases_given_total", "Fences this instance gave up at another instance's request."),
		heldFences: d("switchboard_keystore_fences_held", "Buckets this instance holds fenced, answering SETs of the value a key holds from memory."),
	}
}

func (c *keystoreCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.rounds, c.taken, c.asked, c.given, c.heldFences} {
		ch <- d
	}
}

func (c *keystoreCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.ks.Stats()
	for d, v := range map[*prometheus.Desc]int64{c.rounds: st.CatchUpRounds, c.taken: st.FencesTaken, c.asked: st.ReleasesAsked, c.given: st.ReleasesGiven} {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	ch <- prometheus.MustNewConstMetric(c.heldFences, prometheus.GaugeValue, float64(st.FencesHeld))
}

package metrics

import (
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// InstanceLabel is the label every series at /metrics carries: the name of the instance that
// reported it (--instance-name).
const InstanceLabel = "instance"

// WithInstance returns a gatherer adding instance=name to every series g gathers, unless a
// series has that label already. Added at gather time, so every collector gets it, also
// those other packages register on the registry.
func WithInstance(g prometheus.Gatherer, name string) prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		mfs, err := g.Gather()
		for _, mf := range mfs {
			for _, m := range mf.Metric {
				m.Label = withLabel(m.Label, InstanceLabel, name)
			}
		}
		return mfs, err
	})
}

// withLabel is ls with name=value added in name order (the exposition's order), unless ls
// has name.
func withLabel(ls []*dto.LabelPair, name, value string) []*dto.LabelPair {
	i := sort.Search(len(ls), func(i int) bool { return ls[i].GetName() >= name })
	if i < len(ls) && ls[i].GetName() == name {
		return ls
	}
	ls = append(ls, nil)
	copy(ls[i+1:], ls[i:])
	ls[i] = &dto.LabelPair{Name: &name, Value: &value}
	return ls
}

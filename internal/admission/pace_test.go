package admission_test

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/admission"
)

func TestPaceDeadline(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rated := admission.Pace{Grace: 5 * time.Second, MinRate: 8 << 10, Max: 30 * time.Second}
	tests := []struct {
		name string
		pace admission.Pace
		n    int64
		want time.Duration // after start; -1 = no deadline
	}{
		{"nothing arrived: the grace", rated, 0, 5 * time.Second},
		{"each MinRate bytes earn a second", rated, 16 << 10, 7 * time.Second},
		{"never past Max", rated, 4 << 20, 30 * time.Second},
		{"huge counts do not overflow", rated, 1 << 62, 30 * time.Second},
		{"no rate: Max alone", admission.Pace{Max: 30 * time.Second}, 0, 30 * time.Second},
		{"no Max: the rate alone", admission.Pace{Grace: time.Second, MinRate: 1000}, 2000, 3 * time.Second},
		{"nothing: no deadline", admission.Pace{}, 10, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.pace.Deadline(start, tc.n)
			if tc.want < 0 {
				if !got.IsZero() {
					t.Errorf("deadline %s, want none", got)
				}
				return
			}
			if got.Sub(start) != tc.want {
				t.Errorf("deadline start+%s, want start+%s", got.Sub(start), tc.want)
			}
		})
	}
	err := error(&admission.SlowError{Pace: rated})
	if !errors.Is(err, os.ErrDeadlineExceeded) || err.Error() == "" {
		t.Errorf("SlowError %q does not say what was missed or is not a deadline error", err)
	}
}

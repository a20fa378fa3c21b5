package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/switchboardhq/switchboard/internal/history"
)

// History reads the solutions' metrics of the last hour; *history.History is one.
type History interface {
	Interval() time.Duration
	Read(ctx context.Context, solution string, q history.Query) (history.Answer, error)
}

// solutionMetrics answers GET /api/v1/solutions/{solution}/metrics?window=1h&step=10s: the
// solution's figures over the window, every instance's summed, one point per step.
func (s *Server) solutionMetrics(w http.ResponseWriter, r *http.Request, _ principal) {
	v := r.URL.Query()
	for k := range v {
		if k != "window" && k != "step" {
			writeErr(w, errorf(http.StatusBadRequest, k, "unknown query parameter %q; want window or step", k))
			return
		}
	}
	q, err := history.ParseQuery(v.Get("window"), v.Get("step"), s.opt.History.Interval())
	var fe *history.FieldError
	if errors.As(err, &fe) {
		writeErr(w, errorf(http.StatusBadRequest, fe.Field, "%s %s", fe.Field, fe.Reason))
		return
	}
	ans, err := s.opt.History.Read(r.Context(), r.PathValue("solution"), q) // owner() checked the token
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ans)
}

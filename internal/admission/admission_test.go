package admission_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/switchboardhq/switchboard/internal/admission"
)

// step is one action on a gate: enter a run for sol, reserve bytes on a ticket, or release it.
type step struct {
	op     string // enter, reserve, release
	ticket string // name of the ticket the step acts on (enter names a new one)
	sol    string
	n      int64
	want   string // "" = allowed, else the refusal's reason
}

func TestGate(t *testing.T) {
	lim := admission.Limits{Runs: 3, RunsPerSolution: 2, Bytes: 100, BytesPerSolution: 60}
	tests := []struct {
		name  string
		steps []step
	}{
		{"runs per solution", []step{
			{op: "enter", ticket: "a1", sol: "a"},
			{op: "enter", ticket: "a2", sol: "a"},
			{op: "enter", ticket: "a3", sol: "a", want: admission.ReasonSolutionRuns},
			{op: "enter", ticket: "b1", sol: "b"},
		}},
		{"runs in all", []step{
			{op: "enter", ticket: "a1", sol: "a"},
			{op: "enter", ticket: "b1", sol: "b"},
			{op: "enter", ticket: "c1", sol: "c"},
			{op: "enter", ticket: "d1", sol: "d", want: admission.ReasonRuns},
		}},
		{"release frees a run", []step{
			{op: "enter", ticket: "a1", sol: "a"},
			{op: "enter", ticket: "a2", sol: "a"},
			{op: "release", ticket: "a1"},
			{op: "release", ticket: "a1"}, // twice is once
			{op: "enter", ticket: "a3", sol: "a"},
			{op: "enter", ticket: "a4", sol: "a", want: admission.ReasonSolutionRuns},
		}},
		{"bytes per solution", []step{
			{op: "enter", ticket: "a1", sol: "a"},
			{op: "enter", ticket: "a2", sol: "a"},
			{op: "reserve", ticket: "a1", n: 40},
			{op: "reserve", ticket: "a2", n: 21, want: admission.ReasonSolutionBytes},
			{op: "reserve", ticket: "a2", n: 20},
			{op: "enter", ticket: "b1", sol: "b"},
			{op: "reserve", ticket: "b1", n: 40},
		}},
		{"bytes in all", []step{
			{op: "enter", ticket: "a1", sol: "a"},
			{op: "enter", ticket: "b1", sol: "b"},
			{op: "reserve", ticket: "a1", n: 60},
			{op: "reserve", ticket: "b1", n: 41, want: admission.ReasonBytes},
			{op: "reserve", ticket: "b1", n: 40},
		}},
		{"release frees bytes", []step{
			{op: "enter", ticket: "a1", sol: "a"},
			{op: "reserve", ticket: "a1", n: 60},
			{op: "release", ticket: "a1"},
			{op: "enter", ticket: "a2", sol: "a"},
			{op: "reserve", ticket: "a2", n: 60},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rejected []string
			g := admission.New(lim, func(r string) { rejected = append(rejected, r) })
			tickets := map[string]*admission.Ticket{}
			var wantRejected []string
			for i, s := range tc.steps {
				var err error
				switch s.op {
				case "enter":
					tickets[s.ticket], err = g.Enter(s.sol)
				case "reserve":
					err = tickets[s.ticket].Reserve(s.n)
				case "release":
					tickets[s.ticket].Release()
				}
				if s.want != "" {
					wantRejected = append(wantRejected, s.want)
				}
				checkRefusal(t, i, err, s.want)
			}
			if strings.Join(rejected, ",") != strings.Join(wantRejected, ",") {
				t.Errorf("rejections reported %v, want %v", rejected, wantRejected)
			}
			for _, tk := range tickets {
				tk.Release()
			}
			if runs, b, _, _ := g.Held("a"); runs != 0 || b != 0 {
				t.Errorf("after every release the gate holds %d runs and %d bytes", runs, b)
			}
		})
	}
}

func checkRefusal(t *testing.T, i int, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("step %d: refused: %v", i, err)
		}
		return
	}
	var ae *admission.Error
	if !errors.As(err, &ae) || ae.Reason != want {
		t.Fatalf("step %d: err %v, want a refusal for %s", i, err, want)
	}
	wantStatus := http.StatusTooManyRequests
	if want == admission.ReasonRuns || want == admission.ReasonBytes {
		wantStatus = http.StatusServiceUnavailable
	}
	if ae.Status() != wantStatus || ae.Error() == "" {
		t.Errorf("step %d: status %d %q, want %d", i, ae.Status(), ae.Error(), wantStatus)
	}
}

func TestReadBody(t *testing.T) {
	lim := admission.Limits{Runs: 10, RunsPerSolution: 10, Bytes: 1 << 20, BytesPerSolution: 300 << 10}
	big := bytes.Repeat([]byte("x"), 200<<10)
	tests := []struct {
		name      string
		body      io.Reader
		length    int64
		max       int64
		held      int64 // bytes another ticket of the solution already holds
		want      []byte
		wantErr   string // "" none, "too large", or a refusal reason
		wantAtMax int64  // the ticket must hold at most this many bytes afterwards (0 = len(want))
	}{
		{name: "known length", body: bytes.NewReader(big), length: int64(len(big)), max: 1 << 20, want: big},
		{name: "empty", body: strings.NewReader(""), length: 0, max: 10, want: []byte{}},
		{name: "chunked", body: iotest.HalfReader(bytes.NewReader(big)), length: -1, max: 1 << 20, want: big, wantAtMax: 256 << 10},
		{name: "chunked one byte at a time", body: iotest.OneByteReader(strings.NewReader("hello")), length: -1, max: 10, want: []byte("hello"), wantAtMax: 11},
		{name: "known length over max", body: bytes.NewReader(big), length: int64(len(big)), max: 100, wantErr: "too large"},
		{name: "chunked over max", body: bytes.NewReader(big), length: -1, max: 100 << 10, wantErr: "too large"},
		{name: "chunked exactly max", body: bytes.NewReader(big), length: -1, max: int64(len(big)), want: big, wantAtMax: int64(len(big)) + 1},
		{name: "known length over the solution's bound", body: bytes.NewReader(big), length: int64(len(big)), max: 1 << 20, held: 200 << 10, wantErr: admission.ReasonSolutionBytes},
		{name: "chunked over the solution's bound", body: bytes.NewReader(big), length: -1, max: 1 << 20, held: 200 << 10, wantErr: admission.ReasonSolutionBytes},
		{name: "shorter than announced", body: strings.NewReader("abc"), length: 5, max: 10, wantErr: "unexpected EOF"},
		{name: "longer than announced", body: strings.NewReader("abcdef"), length: 3, max: 10, wantErr: "longer than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := admission.New(lim, nil)
			other, _ := g.Enter("a")
			if err := other.Reserve(tc.held); err != nil {
				t.Fatal(err)
			}
			tk, err := g.Enter("a")
			if err != nil {
				t.Fatal(err)
			}
			got, err := tk.ReadBody(tc.body, tc.length, tc.max)
			_, _, _, solBytes := g.Held("a")
			heldByRead := solBytes - tc.held
			switch {
			case tc.wantErr == "":
				if err != nil || !bytes.Equal(got, tc.want) {
					t.Fatalf("ReadBody = %d bytes, %v; want %d bytes", len(got), err, len(tc.want))
				}
				atMax := tc.wantAtMax
				if atMax == 0 {
					atMax = int64(len(tc.want))
				}
				if heldByRead < int64(len(got)) || heldByRead > atMax {
					t.Errorf("the ticket holds %d bytes for a %d-byte body, want between %d and %d", heldByRead, len(got), len(got), atMax)
				}
			case tc.wantErr == "too large":
				var tooBig *http.MaxBytesError
				if !errors.As(err, &tooBig) || tooBig.Limit != tc.max {
					t.Fatalf("err %v, want *http.MaxBytesError with limit %d", err, tc.max)
				}
			default:
				var ae *admission.Error
				if err == nil || (!strings.Contains(err.Error(), tc.wantErr) && !(errors.As(err, &ae) && ae.Reason == tc.wantErr)) {
					t.Fatalf("err %v, want %s", err, tc.wantErr)
				}
			}
			tk.Release()
			other.Release()
			if runs, b, _, _ := g.Held("a"); runs != 0 || b != 0 {
				t.Errorf("after release the gate holds %d runs and %d bytes", runs, b)
			}
		})
	}
}

// TestGateConcurrent: many goroutines entering and leaving never exceed a bound, and leave
// nothing held.
func TestGateConcurrent(t *testing.T) {
	g := admission.New(admission.Limits{Runs: 8, RunsPerSolution: 5, Bytes: 1000, BytesPerSolution: 400}, nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	maxRuns, maxSolRuns := 0, 0
	for i := range 64 {
		sol := string(rune('a' + i%3))
		wg.Go(func() {
			for range 100 {
				tk, err := g.Enter(sol)
				if err != nil {
					continue
				}
				_ = tk.Reserve(100)
				runs, b, solRuns, solBytes := g.Held(sol)
				mu.Lock()
				maxRuns, maxSolRuns = max(maxRuns, runs), max(maxSolRuns, solRuns)
				mu.Unlock()
				if b > 1000 || solBytes > 400 {
					t.Errorf("held %d bytes (%d for %s), over the bounds", b, solBytes, sol)
				}
				tk.Release()
			}
		})
	}
	wg.Wait()
	if maxRuns > 8 || maxSolRuns > 5 {
		t.Errorf("saw %d runs (%d of one solution) in flight, over the bounds", maxRuns, maxSolRuns)
	}
	if runs, b, _, _ := g.Held("a"); runs != 0 || b != 0 {
		t.Errorf("after every release the gate holds %d runs and %d bytes", runs, b)
	}
}

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
	op     string // enter, open (a ticket without a run slot), run, reserve, release
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
		{"an open ticket holds bytes but no run", []step{
			{op: "enter", ticket: "a1", sol: "a"},
			{op: "enter", ticket: "a2", sol: "a"},
			{op: "open", ticket: "a3", sol: "a"},
			{op: "reserve", ticket: "a3", n: 50},
			{op: "run", ticket: "a3", want: admission.ReasonSolutionRuns},
			{op: "release", ticket: "a1"},
			{op: "run", ticket: "a3"},
			{op: "run", ticket: "a3"}, // twice is once
			{op: "enter", ticket: "a4", sol: "a", want: admission.ReasonSolutionRuns},
		}},
		{"open tickets take no run in all", []step{
			{op: "open", ticket: "a1", sol: "a"},
			{op: "open", ticket: "b1", sol: "b"},
			{op: "open", ticket: "c1", sol: "c"},
			{op: "open", ticket: "d1", sol: "d"},
			{op: "enter", ticket: "a2", sol: "a"},
			{op: "enter", ticket: "b2", sol: "b"},
			{op: "enter", ticket: "c2", sol: "c"},
			{op: "run", ticket: "d1", want: admission.ReasonRuns},
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
				case "open":
					tickets[s.ticket] = g.Open(s.sol)
				case "run":
					err = tickets[s.ticket].Run()
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
	lim := admission.Limits{Runs: 10, RunsPerSolution: 10, Bytes: 2 << 20, BytesPerSolution: 1 << 20}
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
		{name: "chunked one byte at a time", body: iotest.OneByteReader(strings.NewReader("hello")), length: -1, max: 10, want: []byte("hello"), wantAtMax: 10},
		{name: "known length over max", body: bytes.NewReader(big), length: int64(len(big)), max: 100, wantErr: "too large"},
		{name: "chunked over max", body: bytes.NewReader(big), length: -1, max: 100 << 10, wantErr: "too large"},
		{name: "chunked exactly max", body: bytes.NewReader(big), length: -1, max: int64(len(big)), want: big},
		{name: "small known length", body: strings.NewReader("hello"), length: 5, max: 10, want: []byte("hello")},
		{name: "known length over the solution's bound", body: bytes.NewReader(big), length: int64(len(big)), max: 1 << 20, held: 900 << 10, wantErr: admission.ReasonSolutionBytes},
		{name: "chunked over the solution's bound", body: bytes.NewReader(big), length: -1, max: 1 << 20, held: 900 << 10, wantErr: admission.ReasonSolutionBytes},
		// 200 KiB fit in the 240 KiB left, but the copy from 128 KiB to 200 KiB holds both buffers.
		{name: "a copy counts both buffers", body: bytes.NewReader(big), length: int64(len(big)), max: 1 << 20, held: 784 << 10, wantErr: admission.ReasonSolutionBytes},
		{name: "without the copy it fits", body: bytes.NewReader(big), length: int64(len(big)), max: 1 << 20, held: 696 << 10, want: big},
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

// arrivals is a body that arrives in pieces; before each piece it records what the ticket's
// solution holds against what has arrived so far.
type arrivals struct {
	g        *admission.Gate
	pieces   [][]byte
	stall    error // returned once the pieces are gone, instead of io.EOF
	received int64
	check    func(held, received int64)
}

func (a *arrivals) Read(p []byte) (int, error) {
	_, _, _, held := a.g.Held("a")
	a.check(held, a.received)
	if len(a.pieces) == 0 {
		if a.stall != nil {
			return 0, a.stall
		}
		return 0, io.EOF
	}
	n := copy(p, a.pieces[0])
	if a.pieces[0] = a.pieces[0][n:]; len(a.pieces[0]) == 0 {
		a.pieces = a.pieces[1:]
	}
	a.received += int64(n)
	return n, nil
}

// TestReadBodyReservesAsItArrives: what a body announces is not held before it arrives; what
// is held is never more than the first chunk or twice what has arrived.
func TestReadBodyReservesAsItArrives(t *testing.T) {
	const announced = 4 << 20
	errStalled := errors.New("stalled")
	piece := bytes.Repeat([]byte("x"), 10<<10)
	tests := []struct {
		name     string
		length   int64
		pieces   int
		stall    bool
		wantHeld int64 // what the ticket holds when the body stalls
	}{
		{name: "announced, nothing sent", length: announced, stall: true},
		{name: "chunked, nothing sent", length: -1, stall: true},
		{name: "announced, 1 MiB sent", length: announced, pieces: 100, stall: true, wantHeld: 1 << 20},
		{name: "chunked, 1 MiB sent", length: -1, pieces: 100, stall: true, wantHeld: 1 << 20},
		{name: "announced and sent", length: 100 * int64(len(piece)), pieces: 100, wantHeld: 100 * int64(len(piece))},
		{name: "small announced, nothing sent", length: 100, stall: true, wantHeld: 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := admission.New(admission.Limits{Bytes: 64 << 20, BytesPerSolution: 32 << 20}, nil)
			tk := g.Open("a")
			defer tk.Release()
			a := &arrivals{g: g, check: func(held, received int64) {
				if tc.length > 4<<10 && held > max(64<<10, 2*received) {
					t.Fatalf("holds %d bytes with %d arrived", held, received)
				}
			}}
			for range tc.pieces {
				a.pieces = append(a.pieces, bytes.Clone(piece))
			}
			if tc.stall {
				a.stall = errStalled
			}
			got, err := tk.ReadBody(a, tc.length, announced)
			_, _, _, held := g.Held("a")
			if tc.stall != errors.Is(err, errStalled) || (!tc.stall && len(got) != tc.pieces*len(piece)) {
				t.Fatalf("ReadBody = %d bytes, %v", len(got), err)
			}
			if held != tc.wantHeld {
				t.Errorf("after %d bytes arrived the ticket holds %d bytes, want %d", a.received, held, tc.wantHeld)
			}
		})
	}
}

// BenchmarkReadBodySmall is the common case: a small body with a Content-Length, read on a
// ticket (one reservation, one allocation).
func BenchmarkReadBodySmall(b *testing.B) {
	g := admission.New(admission.Limits{}, nil)
	body := bytes.Repeat([]byte("x"), 512)
	r := bytes.NewReader(body)
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(body)
		tk := g.Open("a")
		if _, err := tk.ReadBody(r, int64(len(body)), 4<<20); err != nil {
			b.Fatal(err)
		}
		if err := tk.Run(); err != nil {
			b.Fatal(err)
		}
		tk.Release()
	}
}

// TestRunMore: a request's further runs take what both bounds leave free, never more, and
// never refuse; they are given back with the ticket.
func TestRunMore(t *testing.T) {
	tests := []struct {
		name      string
		othersA   int // runs other tickets of a hold
		othersB   int // runs tickets of b hold
		more      int
		wantTaken int
	}{
		{"all free", 0, 0, 2, 2},
		{"the solution's bound", 2, 0, 5, 1},
		{"the server's bound", 0, 4, 5, 1},
		{"none free", 3, 0, 2, 0},
		{"none asked", 0, 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := admission.New(admission.Limits{Runs: 6, RunsPerSolution: 4, Bytes: 100, BytesPerSolution: 50}, nil)
			for range tc.othersA {
				if _, err := g.Enter("a"); err != nil {
					t.Fatal(err)
				}
			}
			for range tc.othersB {
				if _, err := g.Enter("b"); err != nil {
					t.Fatal(err)
				}
			}
			tk, err := g.Enter("a")
			if err != nil {
				t.Fatal(err)
			}
			if got := tk.RunMore(tc.more); got != tc.wantTaken {
				t.Errorf("RunMore(%d) took %d, want %d", tc.more, got, tc.wantTaken)
			}
			if _, _, solRuns, _ := g.Held("a"); solRuns != tc.othersA+1+tc.wantTaken {
				t.Errorf("a holds %d runs, want %d", solRuns, tc.othersA+1+tc.wantTaken)
			}
			tk.Release()
			if runs, _, _, _ := g.Held("a"); runs != tc.othersA+tc.othersB {
				t.Errorf("after release the gate holds %d runs, want %d", runs, tc.othersA+tc.othersB)
			}
		})
	}
	var none *admission.Ticket
	if got := none.RunMore(3); got != 3 {
		t.Errorf("without a gate RunMore(3) = %d, want 3", got)
	}
}

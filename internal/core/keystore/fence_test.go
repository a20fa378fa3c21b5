package keystore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/bus"
)

// fencePair returns two instances on one NATS server: a runs the embedded server, listening for
// outside programs, and b connects to it as another hub instance would. Both follow each
// other's writes and may fence.
func fencePair(t *testing.T) (a, b *Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const token = "fence-test-token-0123456789"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ba, err := bus.Open(ctx, bus.Config{DataDir: t.TempDir(), Listen: addr, Token: token, Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	bb, err := bus.Open(ctx, bus.Config{URL: "nats://" + token + "@" + addr, Name: "b"})
	if err != nil {
		t.Fatal(err)
	}
	a, b = New(ba, Options{}), New(bb, Options{})
	t.Cleanup(func() {
		b.Close()
		bb.Close()
		a.Close()
		ba.Close()
	})
	if !a.fence || !b.fence {
		t.Fatalf("fencing off: a %v, b %v", a.fence, b.fence)
	}
	return a, b
}

// fenced sets key to value on s and has s fence the bucket.
func fenced(t *testing.T, s *Store, solution, key, value string) *bucket {
	t.Helper()
	call(t, s, solution, "set", args("key", key, "value", value))
	bk := loaded(t, s, solution)
	if err := bk.takeFence(); err != nil {
		t.Fatalf("fence: %v", err)
	}
	return bk
}

func loaded(t *testing.T, s *Store, solution string) *bucket {
	t.Helper()
	bk, err := s.readable(tctx(t), "get", solution)
	if err != nil || bk == nil {
		t.Fatalf("bucket of %s: %v", solution, err)
	}
	return bk
}

// TestSupportsFence: subject transforms came with NATS 2.10.
func TestSupportsFence(t *testing.T) {
	for v, want := range map[string]bool{"2.9.10": false, "2.10.0": true, "2.15.2": true, "3.0.0": true, "2.10": true, "": false, "x.y": false} {
		if got := supportsFence(v); got != want {
			t.Errorf("supportsFence(%q) = %v, want %v", v, got, want)
		}
	}
}

// TestFenceTakenWhenBusy: an instance setting the value a key holds, over and over, fences the
// bucket, and from then on answers those sets from memory, without a round; the other instance
// reads and sets the same value through the fence without taking it down.
func TestFenceTakenWhenBusy(t *testing.T) {
	a, b := fencePair(t)
	// b loads its index and caches the value, so its same-value sets below can be answered
	// unchanged; it writes nothing, which would keep a from fencing for fenceQuiet.
	call(t, a, "busy", "set", args("key", "k", "value", "v"))
	call(t, b, "busy", "info", nil)
	equal(t, "b reads k", cmd(t, b, "busy", "k", "get"), "v")
	for range fenceHot + 1 {
		call(t, a, "busy", "set", args("key", "k", "value", "v"))
	}
	eventually(t, "a to fence the bucket", 10*time.Second, func() bool { return a.fencesTaken.Load() == 1 })
	bk := loaded(t, a, "busy")
	eventually(t, "a to answer from memory", 5*time.Second, func() bool {
		_, ok := bk.fastUnchanged("k", encodeString("v"))
		return ok
	})
	rounds := a.syncRounds.Load()
	for range 200 {
		call(t, a, "busy", "set", args("key", "k", "value", "v"))
	}
	// Keep-alive probes are not rounds: none may have been needed.
	equal(t, "rounds for 200 same-value sets", a.syncRounds.Load()-rounds, int64(0))

	equal(t, "b reads the value", cmd(t, b, "busy", "k", "get"), "v")
	for range 5 {
		call(t, b, "busy", "set", args("key", "k", "value", "v"))
	}
	equal(t, "release requests by b's same-value sets", b.releasesAsked.Load(), int64(0))
	equal(t, "a still holds the bucket", bk.ownPrefix.Load() != nil, true)
}

// TestFenceGivenUpForAWrite: another instance's write asks the holder to give the fence up; the
// holder stops answering from memory before the write is stored, so its next set of the value
// its memory held is stored over the other's write.
func TestFenceGivenUpForAWrite(t *testing.T) {
	a, b := fencePair(t)
	bk := fenced(t, a, "w", "k", "v1")
	call(t, b, "w", "set", args("key", "k", "value", "v2"))
	equal(t, "releases given by a", a.releasesGiven.Load(), int64(1))
	equal(t, "k in the stream", streamValue(t, a, "w", "k"), "v2")
	if _, ok := bk.fastUnchanged("k", encodeString("v1")); ok {
		t.Fatal("a answers from memory after giving the fence up")
	}
	call(t, a, "w", "set", args("key", "k", "value", "v1"))
	equal(t, "k after a's set", streamValue(t, a, "w", "k"), "v1")

	// Busy again soon after: a does not take the fence back within fencePause.
	for range 2 * fenceHot {
		call(t, a, "w", "set", args("key", "k", "value", "v1"))
	}
	equal(t, "fences taken by a", a.fencesTaken.Load(), int64(1))
}

// TestFenceHolderGone: a holder that cannot be reached (its release subscription gone, as when
// it is cut off) has its fence taken down by the writer, which then waits out the holder's lease:
// when the write returns, the holder no longer answers from memory, and never did after the
// write was stored.
func TestFenceHolderGone(t *testing.T) {
	a, b := fencePair(t)
	bk := fenced(t, a, "gone", "k", "v1")
	if err := a.releaseSub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	call(t, b, "gone", "set", args("key", "k", "value", "v2"))
	if took := time.Since(start); took < fenceLease {
		t.Fatalf("b's write took %v, less than the holder's lease %v", took, fenceLease)
	}
	if _, ok := bk.fastUnchanged("k", encodeString("v1")); ok {
		t.Fatal("the holder still answers from memory after b's write")
	}
	eventually(t, "a to notice its fence is gone", 5*time.Second, func() bool { return bk.ownPrefix.Load() == nil })
	call(t, a, "gone", "set", args("key", "k", "value", "v1"))
	equal(t, "k after a's set", streamValue(t, b, "gone", "k"), "v1")
}

// TestFenceHolderGoneBusy: an instance busy on a bucket whose holder is gone takes the fence
// down and fences the bucket itself, rather than taking a round for every set.
func TestFenceHolderGoneBusy(t *testing.T) {
	a, b := fencePair(t)
	fenced(t, a, "gb", "k", "v")
	if err := a.releaseSub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b to fence the bucket", 20*time.Second, func() bool {
		call(t, b, "gb", "set", args("key", "k", "value", "v"))
		return b.fencesTaken.Load() == 1
	})
	equal(t, "k", streamValue(t, b, "gb", "k"), "v")
}

// TestFenceIncrementsFromBoth: read-modify-writes from the holder and from another instance,
// interleaved with the holder's same-value sets, lose nothing while the fence comes and goes.
func TestFenceIncrementsFromBoth(t *testing.T) {
	a, b := fencePair(t)
	fenced(t, a, "inc", "same", "v")
	const each = 150
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for _, s := range []*Store{a, b} {
		wg.Go(func() {
			for range each {
				if _, err := s.Call(context.Background(), "inc", "incrby", args("key", "n", "args", arr(float64(1)))); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range each {
			if _, err := a.Call(context.Background(), "inc", "set", args("key", "same", "value", "v")); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	equal(t, "n", streamValue(t, a, "inc", "n"), fmt.Sprint(2*each))
}

// TestFenceOtherPrograms: while an instance holds a bucket, it stays readable and watchable with
// the KV API, and a put from another program finds no stream; once the holder closes, it works.
func TestFenceOtherPrograms(t *testing.T) {
	a, _ := fencePair(t)
	fenced(t, a, "kv", "k", "v1")
	nc, err := nats.Connect(a.bus.ClientURL(), nats.Token("fence-test-token-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := tctx(t)
	kv, err := js.KeyValue(ctx, bucketPrefix+"kv")
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, encodeKey("k"))
	if err != nil {
		t.Fatal(err)
	}
	if string(e.Value()[1:]) != "v1" {
		t.Fatalf("KV get: %q", e.Value())
	}
	w, err := kv.Watch(ctx, encodeKey("k"), jetstream.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	call(t, a, "kv", "set", args("key", "k", "value", "v2"))
	select {
	case u := <-w.Updates():
		if u == nil || string(u.Value()[1:]) != "v2" {
			t.Fatalf("watch: %v", u)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the watch saw no update")
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, err = kv.Put(pctx, encodeKey("k"), []byte("sother"))
	cancel()
	if !errors.Is(err, jetstream.ErrNoStreamResponse) && !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("put while fenced: %v, want no responders", err)
	}
	a.Close()
	if _, err := kv.Put(ctx, encodeKey("k"), []byte("sother")); err != nil {
		t.Fatalf("put after the holder closed: %v", err)
	}
}

// TestFenceOnCluster: fencing, a write through another node and giving up, on a 3-node
// cluster with 3 replicas.
func TestFenceOnCluster(t *testing.T) {
	stores := storesOnCluster(t, 2)
	a, b := stores[0], stores[1]
	bk := fenced(t, a, "cl", "k", "v1")
	rounds := a.syncRounds.Load()
	for range 50 {
		call(t, a, "cl", "set", args("key", "k", "value", "v1"))
	}
	equal(t, "rounds while fenced", a.syncRounds.Load()-rounds, int64(0))
	call(t, b, "cl", "set", args("key", "k", "value", "v2"))
	equal(t, "releases given by a", a.releasesGiven.Load(), int64(1))
	if _, ok := bk.fastUnchanged("k", encodeString("v1")); ok {
		t.Fatal("a answers from memory after giving the fence up")
	}
	call(t, a, "cl", "set", args("key", "k", "value", "v1"))
	eventually(t, "b to read a's set", 5*time.Second, func() bool { return cmd(t, b, "cl", "k", "get") == "v1" })
}

// TestNoFenceOnOldServer: an outside NATS without subject transforms (before 2.10) is never
// fenced. Needs SWITCHBOARD_TEST_NATS_URL pointing at such a server.
func TestNoFenceOnOldServer(t *testing.T) {
	url := os.Getenv("SWITCHBOARD_TEST_NATS_URL")
	if url == "" {
		t.Skip("SWITCHBOARD_TEST_NATS_URL is not set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, bus.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s := New(b, Options{})
	defer s.Close()
	v := b.Conn().ConnectedServerVersion()
	if s.fence != supportsFence(v) {
		t.Fatalf("server %s: fence %v", v, s.fence)
	}
}

// TestNoFenceOption: with NoFence an instance that follows other writers never fences, however
// busy, and every same-value set takes its round.
func TestNoFenceOption(t *testing.T) {
	a, _ := fencePair(t)
	s := New(a.bus, Options{NoFence: true})
	t.Cleanup(func() { s.Close() })
	if s.fence {
		t.Fatal("fencing on with NoFence")
	}
	call(t, s, "off", "set", args("key", "k", "value", "v"))
	rounds := s.syncRounds.Load()
	for range 2 * fenceHot {
		call(t, s, "off", "set", args("key", "k", "value", "v"))
	}
	equal(t, "fences taken", s.fencesTaken.Load(), int64(0))
	if n := s.syncRounds.Load() - rounds; n == 0 {
		t.Fatal("no round for the same-value sets")
	}
}

// TestNoFenceWhileOthersWrite: an instance busy with same-value sets does not fence a bucket
// another instance writes: each of that instance's writes would have to ask for a release.
func TestNoFenceWhileOthersWrite(t *testing.T) {
	a, b := fencePair(t)
	call(t, a, "shared", "set", args("key", "k", "value", "v"))
	for i := range 3 * fenceHot {
		call(t, b, "shared", "set", args("key", "other", "value", fmt.Sprint(i)))
		call(t, a, "shared", "set", args("key", "k", "value", "v"))
	}
	equal(t, "fences taken by a", a.fencesTaken.Load(), int64(0))
	equal(t, "releases asked by b", b.releasesAsked.Load(), int64(0))
}

// TestReleaseRequestAbuse: whatever reaches an instance's release subject (any client of the
// NATS may send there), only a release of a bucket it holds gives a fence up: large, empty,
// malformed and unknown requests, and a thousand at once, are each answered "not held here",
// and the fence stays.
func TestReleaseRequestAbuse(t *testing.T) {
	a, b := fencePair(t)
	bk := fenced(t, a, "abuse", "k", "v")
	call(t, a, "loaded", "set", args("key", "k", "value", "v")) // loaded, not fenced
	nc := b.bus.Conn()
	big := strings.Repeat("x", 1<<20)
	for _, tc := range []struct{ name, data, want string }{
		{"1 MiB", big, "not held here"},
		{"empty", "", "not held here"},
		{"a path", "../abuse", "not held here"},
		{"a NUL", "abuse\x00", "not held here"},
		{"unknown solution", "nobody", "not held here"},
		{"ping, 1 MiB", pingPrefix + big, "here"},
		{"a loaded bucket not fenced", "loaded", "ok"},
	} {
		r, err := nc.Request(a.releaseSubject(), []byte(tc.data), 5*time.Second)
		if err != nil || string(r.Data) != tc.want {
			t.Errorf("%s: %v %q, want %q", tc.name, err, msgData(r), tc.want)
		}
	}
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 1000 {
		wg.Go(func() {
			r, err := nc.Request(a.releaseSubject(), []byte("nobody"), 10*time.Second)
			if err != nil || string(r.Data) != "not held here" {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	equal(t, "requests of the thousand not answered \"not held here\"", failed.Load(), int64(0))
	equal(t, "releases given", a.releasesGiven.Load(), int64(0))
	if _, ok := bk.fastUnchanged("k", encodeString("v")); !ok {
		t.Fatal("the fence went with the requests")
	}
}

func msgData(m *nats.Msg) string {
	if m == nil {
		return ""
	}
	return string(m.Data)
}

// TestFenceGarbageLockRecord: a lock record that does not parse (written by another program
// through the fence) names no holder to ask: the writer takes the fence down by force, waiting
// out the lease, and the holder, whose renewal no longer matches, stops answering from memory.
func TestFenceGarbageLockRecord(t *testing.T) {
	a, b := fencePair(t)
	bk := fenced(t, a, "garbage", "k", "v1")
	js, err := jetstream.New(b.bus.Conn())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(tctx(t), *bk.ownPrefix.Load()+lockToken, []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	call(t, b, "garbage", "set", args("key", "k", "value", "v2"))
	if took := time.Since(start); took < fenceLease {
		t.Fatalf("b's write took %v, less than the holder's lease %v", took, fenceLease)
	}
	equal(t, "k", streamValue(t, a, "garbage", "k"), "v2")
	eventually(t, "a to drop its fence", 5*time.Second, func() bool { return bk.ownPrefix.Load() == nil })
}

package connector

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/switchboardhq/switchboard/internal/solution"
)

func TestKafkaConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg, field string
	}{
		{`{"brokers":["127.0.0.1:9092"],"topics":["orders"],"group":"sb"}`, ""},
		{`{"brokers":["kafka-1:9092","kafka-2","[::1]:9092"],"topic_regex":"orders\\..*","group":"sb.orders","start":"earliest","max_in_flight":1024,"tls":true,"connect_timeout":"3s"}`, ""},
		{`{"brokers":["k:9092"],"topics":["a"],"group":"g","sasl":{"mechanism":"scram-sha-512","username":"u"},"sasl_password":"p"}`, ""},
		{`{"topics":["a"],"group":"g"}`, "config"},
		{`{"brokers":["k:9092"],"group":"g"}`, "config"},
		{`{"brokers":["k:9092"],"topics":["a"]}`, "config"},
		{`{"brokers":["k:9092"],"topics":["a"],"topic_regex":"a.*","group":"g"}`, "config"},
		{`{"brokers":[],"topics":["a"],"group":"g"}`, "config.brokers"},
		{`{"brokers":["kafka://k:9092"],"topics":["a"],"group":"g"}`, "config.brokers.0"},
		{`{"brokers":["k:9092"],"topics":["a b"],"group":"g"}`, "config.topics.0"},
		{`{"brokers":["k:9092"],"topics":[],"group":"g"}`, "config.topics"},
		{`{"brokers":["k:9092"],"topic_regex":"(","group":"g"}`, "config.topic_regex"},
		{`{"brokers":["k:9092"],"topics":["a"],"group":"my group"}`, "config.group"},
		{`{"brokers":["k:9092"],"topics":["a"],"group":"g","start":"middle"}`, "config.start"},
		{`{"brokers":["k:9092"],"topics":["a"],"group":"g","max_in_flight":0}`, "config.max_in_flight"},
		{`{"brokers":["k:9092"],"topics":["a"],"group":"g","max_in_flight":1025}`, "config.max_in_flight"},
		{`{"brokers":["k:9092"],"topics":["a"],"group":"g","sasl":{"mechanism":"gssapi","username":"u"},"sasl_password":"p"}`, "config.sasl.mechanism"},
		{`{"brokers":["k:9092"],"topics":["a"],"group":"g","sasl":{"mechanism":"plain","username":"u"}}`, "config.sasl_password"},
		{`{"brokers":["k:9092"],"topics":["a"],"group":"g","sasl_password":"p"}`, "config.sasl_password"},
		{`{"brokers":["k:9092"],"topics":["a"],"group":"g","tls":"yes"}`, "config.tls"},
		{`{"brokers":["k:9092"],"topics":["a"],"group":"g","connect_timeout":"forever"}`, "config.connect_timeout"},
		{`{"brokers":["k:9092"],"topics":["a"],"group":"g","connect_timeout":"2m"}`, "config.connect_timeout"},
		{`{"brokers":["k:9092"],"topics":["a"],"group":"g","colour":"red"}`, "config"},
	} {
		_, err := Check(Connector{Solution: "demo", Name: "k", Type: "kafka", Topic: "t", Config: json.RawMessage(tc.cfg)})
		var fe *solution.FieldError
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.cfg, err)
		case tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field):
			t.Errorf("%s: %v, want an error naming %s", tc.cfg, err, tc.field)
		}
	}
	r := Connector{Type: "kafka", Config: json.RawMessage(`{"brokers":["k:9092"],"topics":["a"],"group":"g","sasl":{"mechanism":"plain","username":"u"},"sasl_password":"hunter2"}`)}.Redacted()
	if strings.Contains(string(r.Config), "hunter2") || !strings.Contains(string(r.Config), `"sasl_password":"(set)"`) {
		t.Errorf("redacted %s", r.Config)
	}
}

// kafkaEnv is an in-process cluster with a client to produce and inspect groups.
type kafkaEnv struct {
	t     *testing.T
	c     *kfake.Cluster
	addrs []string
	cl    *kgo.Client
	adm   *kadm.Client
}

func newKafkaEnv(t *testing.T, partitions int32, topics ...string) *kafkaEnv {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...),
		kfake.BrokerConfigs(map[string]string{"message.max.bytes": strconv.Itoa(4 << 20)}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ProducerBatchMaxBytes(4<<20),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &kafkaEnv{t: t, c: c, addrs: c.ListenAddrs(), cl: cl, adm: kadm.NewClient(cl)}
}

func (e *kafkaEnv) produce(rs ...*kgo.Record) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
}

// committed is the group's committed offset of a partition (-1 when none).
func (e *kafkaEnv) committed(group, topic string, p int32) int64 {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	os, err := e.adm.FetchOffsets(ctx, group)
	if err != nil {
		e.t.Fatal(err)
	}
	o, ok := os.Lookup(topic, p)
	if !ok || o.Err != nil {
		return -1
	}
	return o.At
}

func (e *kafkaEnv) source(topic, group, extra string) *kafkaSource {
	e.t.Helper()
	b, _ := json.Marshal(e.addrs)
	src, err := newKafkaSource(json.RawMessage(fmt.Sprintf(`{"brokers":%s,"topics":[%q],"group":%q,"start":"earliest"%s}`, b, topic, group, extra)))
	if err != nil {
		e.t.Fatal(err)
	}
	return src.(*kafkaSource)
}

// kafkaRecorder keeps what it stores; a message the hub's sink would reject (too large) is
// counted, not kept, and does not fail the batch. fail makes its next Publish calls fail.
type kafkaRecorder struct {
	mu       sync.Mutex
	msgs     []Message
	rejected int
	fail     int
	calls    int
}

func (r *kafkaRecorder) Publish(_ context.Context, ms []Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.fail > 0 {
		r.fail--
		return errors.New("storage unavailable")
	}
	for _, m := range ms {
		if _, err := EventOf(Connector{Solution: "demo", Name: "k", Topic: "orders"}, m); err != nil {
			r.rejected++
			continue
		}
		r.msgs = append(r.msgs, m)
	}
	return nil
}

func (r *kafkaRecorder) got() ([]Message, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.msgs...), r.rejected
}

func (r *kafkaRecorder) ids() map[string]int {
	ms, _ := r.got()
	ids := map[string]int{}
	for _, m := range ms {
		ids[m.ID]++
	}
	return ids
}

// kafkaRunning runs src in the background until stop or the end of the test.
type kafkaRunning struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

func runKafka(t *testing.T, src Source, sink Sink) *kafkaRunning {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &kafkaRunning{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = src.Run(ctx, sink, &memCheckpoint{})
	}()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

// stop ends the run and returns what Run returned; it must return soon.
func (r *kafkaRunning) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		return r.err
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after its context ended")
		return nil
	}
}

// kafkaName is a name unique to this run.
func kafkaName(prefix string) string {
	var b [6]byte
	rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

func TestKafkaDelivers(t *testing.T) {
	topic, group := kafkaName("orders"), kafkaName("sb")
	e := newKafkaEnv(t, 2, topic)
	at := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	e.produce(
		&kgo.Record{Topic: topic, Partition: 0, Key: []byte("order-1"), Value: []byte(`{"n":1}`), Timestamp: at},
		&kgo.Record{Topic: topic, Partition: 1, Key: []byte{0xff, 0xfe}, Value: []byte("two"),
			Headers: []kgo.RecordHeader{{Key: "Content-Type", Value: []byte("text/csv")}}},
	)
	sink := &kafkaRecorder{}
	run := runKafka(t, e.source(topic, group, ""), sink)
	eventually(t, "two messages", func() bool { ms, _ := sink.got(); return len(ms) == 2 })
	ms, _ := sink.got()
	byID := map[string]Message{}
	for _, m := range ms {
		byID[m.ID] = m
	}
	m1, ok := byID[topic+"/0/0"]
	if !ok || m1.Subject != topic || string(m1.Data) != `{"n":1}` || !m1.Time.Equal(at) ||
		m1.Extensions["kafkakey"] != "order-1" || m1.Extensions["kafkapartition"] != "0" || m1.ContentType != "" {
		t.Fatalf("first message %+v (all: %+v)", m1, ms)
	}
	m2, ok := byID[topic+"/1/0"]
	if !ok || m2.Subject != topic || m2.ContentType != "text/csv" || m2.Extensions["kafkapartition"] != "1" {
		t.Fatalf("second message %+v (all: %+v)", m2, ms)
	}
	if _, ok := m2.Extensions["kafkakey"]; ok {
		t.Fatalf("a key that is not UTF-8 became an extension: %+v", m2.Extensions)
	}
	eventually(t, "offsets committed", func() bool {
		return e.committed(group, topic, 0) == 1 && e.committed(group, topic, 1) == 1
	})
	start := time.Now()
	if err := run.stop(t); err != nil {
		t.Fatalf("Run after its context ended: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Run took %v to return", d)
	}
}

// TestKafkaRedelivers: records whose Publish failed are not committed; the next Run gets them
// again with the same ids, then commits them, and a third Run does not see them.
func TestKafkaRedelivers(t *testing.T) {
	topic, group := kafkaName("orders"), kafkaName("sb")
	e := newKafkaEnv(t, 1, topic)
	for i := range 3 {
		e.produce(&kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))})
	}

	failing := &kafkaRecorder{fail: 1}
	run := runKafka(t, e.source(topic, group, ""), failing)
	select {
	case <-run.done:
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return the failed Publish")
	}
	if run.err == nil || !strings.Contains(run.err.Error(), "storage unavailable") {
		t.Fatalf("Run returned %v, want the Publish error", run.err)
	}
	if ms, _ := failing.got(); len(ms) != 0 {
		t.Fatalf("stored %+v", ms)
	}
	if off := e.committed(group, topic, 0); off != -1 {
		t.Fatalf("committed offset %d after a failed Publish", off)
	}

	second := &kafkaRecorder{}
	run = runKafka(t, e.source(topic, group, ""), second)
	eventually(t, "the records again", func() bool { ms, _ := second.got(); return len(ms) == 3 })
	for i, m := range func() []Message { ms, _ := second.got(); return ms }() {
		if want := fmt.Sprintf("%s/0/%d", topic, i); m.ID != want || string(m.Data) != strconv.Itoa(i) {
			t.Fatalf("message %d: %+v, want id %s", i, m, want)
		}
	}
	eventually(t, "offsets committed", func() bool { return e.committed(group, topic, 0) == 3 })
	if err := run.stop(t); err != nil {
		t.Fatal(err)
	}

	third := &kafkaRecorder{}
	run = runKafka(t, e.source(topic, group, ""), third)
	e.produce(&kgo.Record{Topic: topic, Value: []byte("after")})
	eventually(t, "the new record", func() bool { ms, _ := third.got(); return len(ms) >= 1 })
	if err := run.stop(t); err != nil {
		t.Fatal(err)
	}
	if ms, _ := third.got(); len(ms) != 1 || ms[0].ID != topic+"/0/3" {
		t.Fatalf("third run got %+v, want only the new record", ms)
	}
}

// TestKafkaGroupShares: two sources of one group split the partitions, each record stored once.
func TestKafkaGroupShares(t *testing.T) {
	topic, group := kafkaName("orders"), kafkaName("sb")
	e := newKafkaEnv(t, 4, topic)
	a, b := &kafkaRecorder{}, &kafkaRecorder{}
	runKafka(t, e.source(topic, group, ""), a)
	runKafka(t, e.source(topic, group, ""), b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := e.c.WaitGroupInfo(ctx, group, func(g *kfake.GroupInfo) bool {
		return g != nil && g.State == "Stable" && len(g.Members) == 2 &&
			g.Members[0].NumAssigned() == 2 && g.Members[1].NumAssigned() == 2
	}); err != nil {
		t.Fatalf("group not stable with two members: %v", err)
	}
	const n = 40
	var rs []*kgo.Record
	for i := range n {
		rs = append(rs, &kgo.Record{Topic: topic, Partition: int32(i % 4), Value: []byte(strconv.Itoa(i))})
	}
	e.produce(rs...)
	eventually(t, "all records", func() bool { return len(a.ids())+len(b.ids()) >= n })
	ia, ib := a.ids(), b.ids()
	if len(ia) == 0 || len(ib) == 0 {
		t.Fatalf("one source got everything: %d and %d", len(ia), len(ib))
	}
	for id, k := range ia {
		if k != 1 || ib[id] != 0 {
			t.Fatalf("%s stored %d times by one source and %d by the other", id, k, ib[id])
		}
	}
	for id, k := range ib {
		if k != 1 {
			t.Fatalf("%s stored %d times", id, k)
		}
	}
	if len(ia)+len(ib) != n {
		t.Fatalf("%d distinct records, want %d", len(ia)+len(ib), n)
	}
}

// TestKafkaOversized: a record the sink rejects is committed and not read again.
func TestKafkaOversized(t *testing.T) {
	topic, group := kafkaName("orders"), kafkaName("sb")
	e := newKafkaEnv(t, 1, topic)
	e.produce(&kgo.Record{Topic: topic, Value: []byte(strings.Repeat("x", MaxMessageBytes+1))})
	e.produce(&kgo.Record{Topic: topic, Value: []byte("small")})
	sink := &kafkaRecorder{}
	run := runKafka(t, e.source(topic, group, ""), sink)
	eventually(t, "the small record", func() bool { ms, _ := sink.got(); return len(ms) == 1 })
	if ms, rej := sink.got(); rej != 1 || ms[0].ID != topic+"/0/1" {
		t.Fatalf("messages %+v, %d rejected", ms, rej)
	}
	eventually(t, "offsets committed", func() bool { return e.committed(group, topic, 0) == 2 })
	if err := run.stop(t); err != nil {
		t.Fatal(err)
	}

	again := &kafkaRecorder{}
	run = runKafka(t, e.source(topic, group, ""), again)
	e.produce(&kgo.Record{Topic: topic, Value: []byte("after")})
	eventually(t, "the new record", func() bool { ms, _ := again.got(); return len(ms) == 1 })
	if err := run.stop(t); err != nil {
		t.Fatal(err)
	}
	if ms, rej := again.got(); rej != 0 || len(ms) != 1 || ms[0].ID != topic+"/0/2" {
		t.Fatalf("second run: %+v, %d rejected", ms, rej)
	}
}

// TestKafkaUnreachable: a refused port, or a listener that never answers, fails Run within
// the connect timeout instead of retrying forever.
func TestKafkaUnreachable(t *testing.T) {
	silent, _ := silentListener(t)
	for name, addr := range map[string]string{"refused": freeAddr(t), "silent": silent} {
		t.Run(name, func(t *testing.T) {
			src, err := newKafkaSource(json.RawMessage(fmt.Sprintf(`{"brokers":[%q],"topics":["orders"],"group":"sb","connect_timeout":"1s"}`, addr)))
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			start := time.Now()
			go func() { done <- src.Run(context.Background(), &kafkaRecorder{}, &memCheckpoint{}) }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), addr) {
					t.Fatalf("Run returned %v, want an error naming %s", err, addr)
				}
				t.Logf("after %v: %v", time.Since(start).Round(time.Millisecond), err)
			case <-time.After(8 * time.Second):
				t.Fatal("Run hangs on an unreachable broker")
			}
		})
	}
}

// TestKafkaTopicRegex: topic_regex reads the topics whose whole name matches.
func TestKafkaTopicRegex(t *testing.T) {
	p, group := kafkaName("orders"), kafkaName("sb")
	e := newKafkaEnv(t, 1, p+"-eu", p+"-us", "x-"+p+"-eu")
	e.produce(&kgo.Record{Topic: p + "-eu", Value: []byte("eu")}, &kgo.Record{Topic: p + "-us", Value: []byte("us")},
		&kgo.Record{Topic: "x-" + p + "-eu", Value: []byte("other")})
	b, _ := json.Marshal(e.addrs)
	src, err := newKafkaSource(json.RawMessage(fmt.Sprintf(`{"brokers":%s,"topic_regex":%q,"group":%q,"start":"earliest"}`, b, p+"-.*", group)))
	if err != nil {
		t.Fatal(err)
	}
	sink := &kafkaRecorder{}
	run := runKafka(t, src, sink)
	eventually(t, "both matching topics", func() bool { ms, _ := sink.got(); return len(ms) == 2 })
	e.produce(&kgo.Record{Topic: p + "-eu", Value: []byte("marker")})
	eventually(t, "the marker", func() bool { ms, _ := sink.got(); return len(ms) == 3 })
	if err := run.stop(t); err != nil {
		t.Fatal(err)
	}
	for _, m := range func() []Message { ms, _ := sink.got(); return ms }() {
		if m.Subject != p+"-eu" && m.Subject != p+"-us" {
			t.Fatalf("read %s from %s", m.Data, m.Subject)
		}
	}
}

// TestKafkaLeavesStaleMember: a run that ended without leaving its group (its LeaveGroup
// lost, as when its broker was away or its instance died) left a member the group waits a
// session timeout (45s) for; the next run, reading that member's id from the checkpoint,
// tells the group it left, and reads on at once.
func TestKafkaLeavesStaleMember(t *testing.T) {
	topic, group := kafkaName("orders"), kafkaName("sb")
	e := newKafkaEnv(t, 1, topic)
	var dropLeaves atomic.Bool
	e.c.ControlKey(kmsg.LeaveGroup.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		e.c.KeepControl()
		if dropLeaves.Load() {
			return nil, errors.New("leave lost"), true // the connection is closed unanswered
		}
		return nil, nil, false
	})
	cp := &lockedCheckpoint{}
	runFor := func(data string) {
		t.Helper()
		sink := &kafkaRecorder{}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- e.source(topic, group, `,"connect_timeout":"2s"`).Run(ctx, sink, cp) }()
		e.produce(&kgo.Record{Topic: topic, Value: []byte(data)})
		eventually(t, data+" read", func() bool {
			ms, _ := sink.got()
			return slices.ContainsFunc(ms, func(m Message) bool { return string(m.Data) == data })
		})
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("run: %v", err)
		}
	}
	dropLeaves.Store(true)
	runFor(`"first"`)
	stale := string(cp.get())
	if stale == "" {
		t.Fatal("the run saved no member id")
	}
	if g := e.c.GroupInfo(group); g == nil || len(g.Members) != 1 || g.Members[0].MemberID != stale {
		t.Fatalf("after a run whose leave was lost: %+v, want its member %s still there", g, stale)
	}
	dropLeaves.Store(false)
	// Without the leave, the group would wait for the stale member's session (45s) before
	// assigning the partition: longer than eventually waits.
	runFor(`"second"`)
	if next := string(cp.get()); next == stale || next == "" {
		t.Fatalf("member id saved by the second run: %q (the first was %q)", next, stale)
	}
}

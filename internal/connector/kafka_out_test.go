package connector

import (
	"context"
	"crypto/rand"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// consumeOne reads the next record of topic from the start, with the broker's client.
func (e *kafkaEnv) consume(topic string, n int) []*kgo.Record {
	e.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.addrs...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			e.t.Fatalf("%d records of %s, want %d", len(out), topic, n)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// TestKafkaOut: a publish is produced with its key, headers and content type, and answered
// with its topic/partition/offset once acknowledged; a topic the cluster does not have is a
// failure, and a record over the broker's bound a refusal.
func TestKafkaOut(t *testing.T) {
	e := newKafkaEnv(t, 1, "alerts", "other")
	brokers := `["` + strings.Join(e.addrs, `","`) + `"]`
	s := newSender(t, "kafka", fmt.Sprintf(`{"brokers":%s,"topic":"alerts"}`, brokers))
	r, err := send(t, s, Outgoing{Key: "sensor-7", Data: []byte(`{"level":3}`), ContentType: "application/json", Headers: map[string]string{"x-source": "north"}})
	if err != nil || r.ID != "alerts/0/0" || r.Fields["offset"] != int64(0) {
		t.Fatalf("publish: %+v, %v", r, err)
	}
	if r, err = send(t, s, Outgoing{To: "other", Data: []byte("plain")}); err != nil || r.ID != "other/0/0" {
		t.Fatalf("publish to other: %+v, %v", r, err)
	}
	rec := e.consume("alerts", 1)[0]
	hdr := map[string]string{}
	for _, h := range rec.Headers {
		hdr[h.Key] = string(h.Value)
	}
	if string(rec.Key) != "sensor-7" || string(rec.Value) != `{"level":3}` || hdr["content-type"] != "application/json" || hdr["x-source"] != "north" {
		t.Fatalf("received key %q value %q headers %v", rec.Key, rec.Value, hdr)
	}
	// What an inbound connector makes of it.
	if m := kafkaMessage(rec); m.ID != "alerts/0/0" || m.ContentType != "application/json" || m.Extensions["kafkakey"] != "sensor-7" {
		t.Fatalf("read back as an inbound connector reads it: %+v", m)
	}
	if got := e.consume("other", 1)[0]; string(got.Value) != "plain" || got.Key != nil {
		t.Fatalf("other: %q key %q", got.Value, got.Key)
	}
}

// TestKafkaOutRefused: a record over the broker's message.max.bytes is refused, not attempted
// again; a cluster that is not there is a failure that is.
func TestKafkaOutRefused(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "small"),
		kfake.BrokerConfigs(map[string]string{"message.max.bytes": strconv.Itoa(1 << 10)}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	s := newSender(t, "kafka", fmt.Sprintf(`{"brokers":[%q],"topic":"small"}`, c.ListenAddrs()[0]))
	if _, err := send(t, s, Outgoing{Data: []byte("fits")}); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 4<<10) // random: compression does not make it fit
	rand.Read(big)
	_, err = send(t, s, Outgoing{Data: big})
	if err == nil || !isPermanent(err) || !strings.Contains(err.Error(), "MESSAGE_TOO_LARGE") {
		t.Fatalf("too large: %v", err)
	}
	_, err = send(t, newSender(t, "kafka", `{"brokers":["127.0.0.1:1"],"topic":"t","connect_timeout":"2s"}`), Outgoing{Data: []byte("x")})
	if err == nil || isPermanent(err) || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("no cluster: %v", err)
	}
}

package hub_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// The sides of the restart suites (e2e_connector_restart_test.go), one function a type: the
// broker a test reads, how it publishes message n, and how the broker is restarted.

// restartData is message n's data.
func restartData(n int) []byte { return []byte(`{"n":` + strconv.Itoa(n) + `}`) }

// restartID is message n's id at its source.
func restartID(n int) string { return "m-" + strconv.Itoa(n) }

func restartSuffix() string {
	b := make([]byte, 5)
	rand.Read(b) //nolint:errcheck // never fails
	return hex.EncodeToString(b)
}

// brokerURL is a shared broker's address from the environment; the test is skipped without it.
func brokerURL(t *testing.T, env string) string {
	t.Helper()
	u := os.Getenv(env)
	if u == "" {
		t.Skipf("%s not set", env)
	}
	return u
}

// natsRestartSource: a durable JetStream consumer of a nats-server of the test's own, with
// its files in a directory that outlives a restart. Messages carry Nats-Msg-Id.
func natsRestartSource(t *testing.T, mode restartMode) *restartSource {
	addr := hubtest.FreeAddr(t)
	_, p, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(p)
	opts := server.Options{ServerName: "restart-source", Host: "127.0.0.1", Port: port, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true}
	var srv *server.Server
	start := func() {
		o := opts
		s, err := server.NewServer(&o)
		if err != nil {
			t.Fatalf("nats-server: %v", err)
		}
		s.Start()
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatal("nats-server not ready within 10s")
		}
		srv = s
	}
	stop := func() {
		if srv != nil {
			srv.Shutdown()
			srv.WaitForShutdown()
			srv = nil
		}
	}
	start()
	t.Cleanup(stop)
	u := "nats://" + addr
	nc, err := nats.Connect(u, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "RS", Subjects: []string{"rs.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	if mode == hubAbrupt {
		// What the killed hub had fetched and not acknowledged comes again after the
		// consumer's ack wait: the connector makes its consumer with 30s, the test with 3s.
		if _, err := js.CreateConsumer(ctx, "RS", jetstream.ConsumerConfig{Durable: "sb", AckPolicy: jetstream.AckExplicitPolicy,
			DeliverPolicy: jetstream.DeliverAllPolicy, AckWait: 3 * time.Second, MaxAckPending: 64}); err != nil {
			t.Fatal(err)
		}
	}
	return &restartSource{
		typ: "nats",
		config: map[string]any{"url": u, "connect_timeout": "2s",
			"jetstream": map[string]any{"stream": "RS", "consumer": "sb", "deliver": "all"}},
		publish: func(ctx context.Context, n int) error {
			_, err := js.Publish(ctx, "rs.in", restartData(n), jetstream.WithMsgID(restartID(n)))
			return err
		},
		stop: stop, start: start,
	}
}

// mqttRestartSource: a QoS 1 subscription of a persistent session (clean start false), on
// the shared Mosquitto, or on one of the test's own (with persistence) to restart. Messages
// carry their id in the MQTT 5 user property "id". The graceful hub restart runs with the
// default client id, which must outlive the hub for the broker's session to be resumed; the
// others name one.
func mqttRestartSource(t *testing.T, mode restartMode) *restartSource {
	var addr string
	var b *hubtest.Broker
	if mode == brokerDown {
		b = hubtest.StartMosquitto(t)
		addr = b.Addr()
	} else {
		u, err := url.Parse(brokerURL(t, "SWITCHBOARD_TEST_MQTT_URL"))
		if err != nil {
			t.Fatal(err)
		}
		addr = u.Host
		if u.Port() == "" {
			addr = net.JoinHostPort(u.Hostname(), "1883")
		}
	}
	sfx := restartSuffix()
	topic := "sbtest/restart/" + sfx
	pub := &mqttPublisher{addr: addr, clientID: "sbtest-restart-pub-" + sfx}
	t.Cleanup(pub.close)
	cfg := map[string]any{"url": "mqtt://" + addr, "topics": []string{topic}, "qos": 1, "id_property": "id", "connect_timeout": "2s"}
	if mode != hubGraceful {
		clientID := "sbtest-restart-" + sfx
		cfg["client_id"] = clientID
		if b == nil {
			// The broker is shared: the connector's session (kept an hour) goes with the test.
			t.Cleanup(func() { forgetMQTTSession(addr, clientID) })
		}
	}
	src := &restartSource{
		typ:                  "mqtt",
		config:               cfg,
		publish:              func(ctx context.Context, n int) error { return pub.publish(ctx, topic, n) },
		lossyUntilSubscribed: true,
	}
	if b != nil {
		src.stop, src.start = b.Stop, b.Start
	}
	return src
}

// mqttPublisher publishes at QoS 1 (MQTT 5), connecting again after an error.
type mqttPublisher struct {
	addr, clientID string

	mu   sync.Mutex
	conn net.Conn
	cli  *paho.Client
}

func (p *mqttPublisher) publish(ctx context.Context, topic string, n int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cli == nil {
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", p.addr)
		if err != nil {
			return err
		}
		cli := paho.NewClient(paho.ClientConfig{ClientID: p.clientID, Conn: conn})
		ca, err := cli.Connect(ctx, &paho.Connect{ClientID: p.clientID, CleanStart: true, KeepAlive: 30})
		if err == nil && ca.ReasonCode >= 0x80 {
			err = fmt.Errorf("connect refused (reason %d)", ca.ReasonCode)
		}
		if err != nil {
			conn.Close()
			return err
		}
		p.conn, p.cli = conn, cli
	}
	_, err := p.cli.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: restartData(n),
		Properties: &paho.PublishProperties{User: paho.UserProperties{{Key: "id", Value: restartID(n)}}}})
	if err != nil {
		p.conn.Close()
		p.conn, p.cli = nil, nil
	}
	return err
}

func (p *mqttPublisher) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cli != nil {
		p.cli.Disconnect(&paho.Disconnect{}) //nolint:errcheck // going anyway
		p.conn.Close()
		p.conn, p.cli = nil, nil
	}
}

// forgetMQTTSession ends a client id's session on the broker: a clean start with no expiry.
func forgetMQTTSession(addr, clientID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return
	}
	defer conn.Close()
	cli := paho.NewClient(paho.ClientConfig{ClientID: clientID, Conn: conn})
	if _, err := cli.Connect(ctx, &paho.Connect{ClientID: clientID, CleanStart: true, KeepAlive: 30}); err == nil {
		cli.Disconnect(&paho.Disconnect{}) //nolint:errcheck // the session went with the clean start
	}
}

// amqpRestartSource: a durable queue of the shared RabbitMQ, persistent messages with a
// message id, published with confirms. For a broker restart, the connector reaches RabbitMQ
// through a proxy that is cut (every connection reset, new ones refused) and restored; the
// publisher, connected directly, goes on meanwhile.
func amqpRestartSource(t *testing.T, mode restartMode) *restartSource {
	u := brokerURL(t, "SWITCHBOARD_TEST_AMQP_URL")
	queue := "sbtest-restart-" + restartSuffix()
	conn, err := amqp.Dial(u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c, err := conn.Channel(); err == nil {
			c.QueueDelete(queue, false, false, false) //nolint:errcheck // the broker's own clean-up is a restart away
			c.Close()
		}
	})
	connURL := u
	src := &restartSource{typ: "amqp", publishesThroughOutage: true}
	if mode == brokerDown {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		target := pu.Host
		if pu.Port() == "" {
			target = net.JoinHostPort(pu.Hostname(), "5672")
		}
		proxy := hubtest.NewProxy(t, target)
		pu.Host = proxy.Addr()
		connURL = pu.String()
		src.stop, src.start = proxy.Down, proxy.Up
	}
	src.config = map[string]any{"url": connURL, "queue": queue, "declare": map[string]any{"durable": true}, "connect_timeout": "2s"}
	var mu sync.Mutex // one message at a time on the channel, so each confirm is its own
	src.publish = func(ctx context.Context, n int) error {
		mu.Lock()
		defer mu.Unlock()
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, false, false, amqp.Publishing{
			DeliveryMode: amqp.Persistent, MessageId: restartID(n), ContentType: "application/json", Body: restartData(n)})
		if err != nil {
			return err
		}
		ok, err := dc.WaitContext(ctx)
		if err == nil && !ok {
			err = errors.New("nacked by the broker")
		}
		return err
	}
	return src
}

// redisRestartSource: a stream read in a consumer group, on the shared Redis, or on a
// redis-server of the test's own (an append-only file, written through) to restart. Entries
// get the ids n-1, so adding one again after an error cannot make a second entry.
func redisRestartSource(t *testing.T, mode restartMode) *restartSource {
	var u string
	var b *hubtest.Broker
	if mode == brokerDown {
		b = hubtest.StartRedis(t)
		u = "redis://" + b.Addr() + "/0"
	} else {
		u = brokerURL(t, "SWITCHBOARD_TEST_REDIS_URL")
	}
	opts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	opts.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	stream := "sbtest:restart:" + restartSuffix()
	if b == nil {
		t.Cleanup(func() { rdb.Del(context.Background(), stream) })
	}
	cfg := map[string]any{"url": u, "stream": stream, "group": "sb", "start": "0", "field": "data", "block": "1s"}
	if mode == hubAbrupt {
		// A consumer name made up per run (the default), so what the killed hub read and
		// never acknowledged is pending with a consumer gone: claimed once idle this long.
		cfg["claim_idle"] = "2s"
	} else {
		cfg["consumer"] = "sb-restart" // what it left pending is read again by its next run
	}
	src := &restartSource{
		typ:    "redis",
		config: cfg,
		publish: func(ctx context.Context, n int) error {
			err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, ID: strconv.Itoa(n) + "-1", Values: []any{"data", restartData(n)}}).Err()
			if err != nil && strings.Contains(err.Error(), "equal or smaller") {
				return nil // added before its answer was lost
			}
			return err
		},
	}
	if b != nil {
		src.stop, src.start = b.Stop, b.Start
	}
	return src
}

// kafkaRestartSource: a consumer group on a topic of two partitions of an in-process kfake
// cluster; for a broker restart, one with a data directory, started again on its port.
func kafkaRestartSource(t *testing.T, mode restartMode) *restartSource {
	addr := hubtest.FreeAddr(t)
	_, p, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(p)
	topic := "restart-" + restartSuffix()
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(port), kfake.SeedTopics(2, topic)}
	if mode == brokerDown {
		opts = append(opts, kfake.DataDir(t.TempDir()))
	}
	var c *kfake.Cluster
	start := func() {
		var err error
		if c, err = kfake.NewCluster(opts...); err != nil {
			t.Fatalf("kfake: %v", err)
		}
	}
	stop := func() {
		if c != nil {
			c.Close()
			c = nil
		}
	}
	start()
	t.Cleanup(stop)
	producer, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(producer.Close)
	return &restartSource{
		typ:    "kafka",
		config: map[string]any{"brokers": []string{addr}, "topics": []string{topic}, "group": "sb", "start": "earliest", "connect_timeout": "2s"},
		publish: func(ctx context.Context, n int) error {
			return producer.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: restartData(n)}).FirstErr()
		},
		stop: stop, start: start,
	}
}

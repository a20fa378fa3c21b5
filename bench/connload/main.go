// Command connload measures, in one run, each broker's own Go client consuming messages against
// a Switchboard connector bringing the same kind of messages from that broker into a Lua
// handler: throughput (msgs/s) and, at a steady rate, publish → consumer (raw) against
// publish → handler starts (switchboard). bench/connectors.sh starts the hub and deploys the
// handlers it drives; see that script for what each figure means.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"
)

type config struct {
	hub, token      string
	brokers         []string
	mqtt, amqp      string
	redis, nats     string
	n, clients      int
	inFlight        int
	rate            int
	steady, stall   time.Duration
	kafkaPartitions int
}

const (
	// keystoreMaxKeys is the Keystore's default quota of keys per solution: each steady
	// message leaves one.
	keystoreMaxKeys = 10_000
	// probeTimeout bounds the wait for a consumer (a connector: its instance takes it up)
	// to read its first probe.
	probeTimeout = 60 * time.Second
)

// allBrokers are the brokers run by default, in order.
var allBrokers = []string{"mqtt", "amqp", "redis", "nats", "natsjs", "kafka"}

func main() {
	var c config
	var brokers string
	flag.StringVar(&c.hub, "hub", "http://127.0.0.1:18080", "hub base URL")
	flag.StringVar(&c.token, "token", "", "admin token (broker connectors are admin-only)")
	flag.StringVar(&brokers, "brokers", strings.Join(allBrokers, ","), "brokers to run, comma-separated: "+strings.Join(allBrokers, ", "))
	flag.StringVar(&c.mqtt, "mqtt", "mqtt://127.0.0.1:1883", "MQTT broker")
	flag.StringVar(&c.amqp, "amqp", "amqp://guest:guest@127.0.0.1:5672/", "AMQP 0-9-1 broker")
	flag.StringVar(&c.redis, "redis", "redis://127.0.0.1:6379/0", "Redis")
	flag.StringVar(&c.nats, "nats", "nats://127.0.0.1:4222", "NATS server with JetStream (nats and natsjs)")
	flag.IntVar(&c.n, "n", 5000, "messages per throughput run")
	flag.IntVar(&c.clients, "clients", 16, "concurrent publishers")
	flag.IntVar(&c.inFlight, "inflight", 16, "messages in flight to a consumer (prefetch, receive maximum, count, max_in_flight), the connectors' default")
	flag.IntVar(&c.rate, "rate", 1000, "messages/s of the steady runs")
	flag.DurationVar(&c.steady, "steady", 5*time.Second, "length of each steady run")
	flag.DurationVar(&c.stall, "stall", 15*time.Second, "a run that makes no progress for this long ends with what it got (lost messages are reported)")
	flag.IntVar(&c.kafkaPartitions, "kafka-partitions", 1, "partitions of each kafka topic (kfake)")
	flag.Parse()
	for _, b := range strings.Split(brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			c.brokers = append(c.brokers, b)
		}
	}
	if err := c.check(); err != nil {
		fmt.Fprintln(os.Stderr, "connload:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, c); err != nil {
		log.Fatal(err)
	}
}

// check refuses flags the run cannot honour, before anything starts.
func (c config) check() error {
	switch {
	case c.token == "":
		return errors.New("-token: the admin token is needed (broker connectors are admin-only)")
	case c.n < 1:
		return errors.New("-n: at least 1")
	case c.clients < 1:
		return errors.New("-clients: at least 1")
	case c.inFlight < 1 || c.inFlight > 1024:
		return errors.New("-inflight: 1 to 1024, as the connectors take")
	case c.rate < 1:
		return errors.New("-rate: at least 1")
	case c.steady <= 0:
		return errors.New("-steady: a positive duration")
	case c.stall <= 0:
		return errors.New("-stall: a positive duration")
	case c.kafkaPartitions < 1:
		return errors.New("-kafka-partitions: at least 1")
	}
	if n := c.steadyN(); n > keystoreMaxKeys-10 {
		return fmt.Errorf("-rate x -steady is %d messages, more than the %d Keystore keys a solution holds besides its counters", n, keystoreMaxKeys-10)
	}
	for _, b := range c.brokers {
		if newBroker[b] == nil {
			return fmt.Errorf("-brokers: %q is not one of %s", b, strings.Join(allBrokers, ", "))
		}
	}
	if len(c.brokers) == 0 {
		return errors.New("-brokers: none given")
	}
	return nil
}

func (c config) steadyN() int { return int(float64(c.rate) * c.steady.Seconds()) }

// row is one broker's line of the final table.
type row struct {
	broker          string
	raw, sb         throughput
	rawLat, sbLat   latency
	skipped, failed string
	rejected        uint64
}

func run(ctx context.Context, c config) error {
	h := newHub(c.hub, c.token)
	fmt.Printf("connectors benchmark: N=%d, %d publishers, in flight %d, steady %d msgs/s for %s\n",
		c.n, c.clients, c.inFlight, c.rate, c.steady)
	var rows []row
	for _, name := range c.brokers {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fmt.Printf("\n== %s\n", name)
		r := runBroker(ctx, c, h, name)
		switch {
		case r.skipped != "":
			fmt.Printf("%s skipped: %s\n", name, r.skipped)
		case r.failed != "":
			fmt.Printf("%s failed: %s\n", name, r.failed)
		}
		rows = append(rows, r)
	}
	printTable(c, rows)
	return nil
}

// runBroker runs the four measures of one broker: raw then switchboard, throughput then
// steady. A broker that cannot be reached is skipped, not fatal.
func runBroker(ctx context.Context, c config, h *hub, name string) row {
	r := row{broker: name}
	b, err := newBroker[name](ctx, c)
	if err != nil {
		r.skipped = err.Error()
		return r
	}
	defer b.close()
	tag := name + "-" + randomSuffix()

	rawDest, err := b.dest(ctx, "raw-"+tag)
	if err != nil {
		r.failed = err.Error()
		return r
	}
	defer rawDest.close(context.WithoutCancel(ctx))
	raw, err := rawMeasure(ctx, c, rawDest)
	if err != nil {
		r.failed = "raw: " + err.Error()
		return r
	}
	r.raw, r.rawLat = raw.thr, raw.lat

	sbDest, err := b.dest(ctx, "sb-"+tag)
	if err != nil {
		r.failed = err.Error()
		return r
	}
	defer sbDest.close(context.WithoutCancel(ctx))
	sb, err := switchboardMeasure(ctx, c, h, name, "sb-"+tag, sbDest)
	if err != nil {
		r.failed = "switchboard: " + err.Error()
		return r
	}
	r.sb, r.sbLat, r.rejected = sb.thr, sb.lat, sb.rejected
	return r
}

func printTable(c config, rows []row) {
	fmt.Printf("\nconnectors: N=%d per throughput run, %d publishers, in flight %d; steady %d msgs/s for %s\n",
		c.n, c.clients, c.inFlight, c.rate, c.steady)
	fmt.Printf("%-8s %10s %10s %6s %9s %9s %9s %9s  %s\n",
		"broker", "raw msg/s", "sb msg/s", "ratio", "raw p50", "raw p99", "sb p50", "sb p99", "notes (latency in ms: publish -> consumer has it / handler starts)")
	for _, r := range rows {
		if r.skipped != "" {
			fmt.Printf("%-8s skipped: %s\n", r.broker, r.skipped)
			continue
		}
		if r.failed != "" {
			fmt.Printf("%-8s failed: %s\n", r.broker, r.failed)
			continue
		}
		var notes []string
		for _, x := range []struct {
			what string
			t    throughput
		}{{"raw", r.raw}, {"sb", r.sb}} {
			if x.t.lost > 0 {
				notes = append(notes, fmt.Sprintf("%s throughput lost %d of %d", x.what, x.t.lost, c.n))
			}
		}
		for _, x := range []struct {
			what string
			l    latency
		}{{"raw", r.rawLat}, {"sb", r.sbLat}} {
			if x.l.lost > 0 {
				notes = append(notes, fmt.Sprintf("%s steady lost %d of %d", x.what, x.l.lost, x.l.lost+x.l.n))
			}
		}
		if r.rejected > 0 {
			notes = append(notes, fmt.Sprintf("connector rejected %d", r.rejected))
		}
		fmt.Printf("%-8s %10.0f %10.0f %6.2f %9.3f %9.3f %9.3f %9.3f  %s\n",
			r.broker, r.raw.rate, r.sb.rate, r.sb.rate/r.raw.rate, r.rawLat.p50, r.rawLat.p99, r.sbLat.p50, r.sbLat.p99, strings.Join(notes, "; "))
	}
}

// pct is the p-quantile of v (nearest rank); NaN when empty.
func pct(v []float64, p float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), v...)
	slices.Sort(s)
	return s[max(int(math.Ceil(p*float64(len(s))))-1, 0)]
}

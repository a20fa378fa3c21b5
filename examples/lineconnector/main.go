// Command lineconnector is an example Switchboard event connector: it reads lines from
// standard input or a file and publishes each as an event on one topic, with the Go SDK
// pkg/connectorsdk. A line that is JSON is the event's data as is; any other line is sent as
// text. Empty lines are skipped.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/switchboardhq/switchboard/pkg/connectorsdk"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "lineconnector:", err)
		os.Exit(1)
	}
}

func run() error {
	hub := flag.String("hub", envOr("SWITCHBOARD_SERVER", "http://127.0.0.1:8080"), "the hub's URL")
	solution := flag.String("solution", "", "the solution whose handlers get the events (required)")
	tokenFile := flag.String("token-file", "data/admin-token", "a file holding the solution's token or the admin token")
	topic := flag.String("topic", "", "the topic each line is published on (required)")
	syncMode := flag.Bool("sync", false, "run the handlers now and print their results, instead of storing the events for durable delivery")
	file := flag.String("file", "-", "the file to read lines from; - for standard input")
	inFlight := flag.Int("max-in-flight", connectorsdk.DefaultMaxInFlight, "events sent at once")
	flag.Parse()
	if *solution == "" || *topic == "" {
		return errors.New("-solution and -topic are required")
	}
	in := io.Reader(os.Stdin)
	if *file != "-" {
		f, err := os.Open(*file)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	c, err := connectorsdk.NewController(connectorsdk.Config{
		HubURL: *hub, Solution: *solution, TokenFile: *tokenFile,
		Async: !*syncMode, MaxInFlight: *inFlight,
	})
	if err != nil {
		return err
	}
	var failed atomic.Int64
	var mu sync.Mutex // one result printed at a time
	c.Subscribe(connectorsdk.ReceiverFunc(func(r connectorsdk.Result) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.Err != nil:
			failed.Add(1)
			fmt.Fprintln(os.Stderr, r.Err)
		case r.Async:
			fmt.Printf("published %s on %s\n", r.EventID, r.Topic)
		default:
			names := make([]string, 0, len(r.Handlers))
			for name := range r.Handlers {
				names = append(names, name)
			}
			sort.Strings(names)
			for _, name := range names {
				fmt.Printf("%s %s: %s\n", r.EventID, name, r.Handlers[name])
			}
		}
	}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() && ctx.Err() == nil {
		if len(sc.Bytes()) == 0 {
			continue
		}
		// Invoke sends in the background: the line must outlive the next Scan.
		line := append([]byte(nil), sc.Bytes()...)
		if err := c.Invoke(ctx, *topic, line, nil); err != nil {
			break // interrupted; the receiver has printed why
		}
	}
	c.Close() // waits for the events sent
	if err := sc.Err(); err != nil {
		return err
	}
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d events failed", n)
	}
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

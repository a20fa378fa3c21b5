// Command scaleload sends N async events through several Switchboard instances at once (its
// clients take the instances in turn) into a topic whose handler counts them with
// Keystore.incr, and prints how many events per second were stored and handled: from the
// first POST until an endpoint reading the counter answers N. bench/scale.sh runs it against
// 1, 2 and 3 instances on a NATS cluster.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type config struct {
	hubs            []string
	token, solution string
	topic, counter  string
	n, clients      int
	timeout         time.Duration
}

func main() {
	var c config
	var hubs string
	flag.StringVar(&hubs, "hubs", "http://127.0.0.1:18080", "the instances' base URLs, comma-separated")
	flag.StringVar(&c.token, "token", "", "admin token")
	flag.StringVar(&c.solution, "solution", "scale", "the solution holding the handler and the counter endpoint")
	flag.StringVar(&c.topic, "topic", "scale.count", "the topic whose handler counts events")
	flag.StringVar(&c.counter, "counter", "/count", "the solution's endpoint answering {\"n\": handled}")
	flag.IntVar(&c.n, "n", 10000, "events to send")
	flag.IntVar(&c.clients, "clients", 16, "concurrent HTTP keep-alive clients")
	flag.DurationVar(&c.timeout, "timeout", 5*time.Minute, "give up after this long")
	flag.Parse()
	c.hubs = strings.Split(hubs, ",")
	log.SetFlags(0)
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	if err := run(ctx, c); err != nil {
		log.Fatalf("scaleload: %v", err)
	}
}

func run(ctx context.Context, c config) error {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c.clients}}
	var next atomic.Int64
	var failed atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for i := range c.clients {
		hub := c.hubs[i%len(c.hubs)]
		wg.Go(func() {
			for {
				k := next.Add(1)
				if k > int64(c.n) || ctx.Err() != nil {
					return
				}
				body := fmt.Sprintf(`{"topic":%q,"data":{"k":%d}}`, c.topic, k)
				if err := post(ctx, client, hub+"/api/v1/solutions/"+c.solution+"/events", c.token, body); err != nil {
					if failed.Add(1) == 1 {
						log.Printf("publish: %v", err)
					}
				}
			}
		})
	}
	wg.Wait()
	sent := time.Since(start)
	if f := failed.Load(); f > 0 {
		return fmt.Errorf("%d of %d publishes failed", f, c.n)
	}
	want := c.n
	for {
		n, err := handled(ctx, client, c.hubs[0]+"/apps/"+c.solution+c.counter)
		if err == nil && n >= want {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("handled %d of %d before the timeout (%v)", n, want, err)
		}
		time.Sleep(5 * time.Millisecond) // polling the counter
	}
	done := time.Since(start)
	fmt.Printf("instances %d events %d clients %d stored/s %.0f handled/s %.0f\n",
		len(c.hubs), c.n, c.clients, float64(c.n)/sent.Seconds(), float64(c.n)/done.Seconds())
	return nil
}

func post(ctx context.Context, client *http.Client, url, token, body string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader([]byte(body)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s: %d %s", url, resp.StatusCode, msg)
	}
	return nil
}

func handled(ctx context.Context, client *http.Client, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, errors.New(resp.Status)
	}
	var v struct{ N int }
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<10)).Decode(&v); err != nil {
		return 0, err
	}
	return v.N, nil
}

package hub_test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// TestKeystoreSharedWriters runs three instances on the outside NATS named by
// SWITCHBOARD_TEST_NATS_URL, each answering Keystore reads from its cache where it may
// (docs/keystore.md): concurrent increments through all three sum exactly, a value set on one
// is read on the others within a bounded time and at once on the one that wrote it, and
// setnx races between instances have exactly one winner per key.
func TestKeystoreSharedWriters(t *testing.T) {
	url := os.Getenv("SWITCHBOARD_TEST_NATS_URL")
	if url == "" {
		t.Skip("SWITCHBOARD_TEST_NATS_URL is not set (e.g. nats://127.0.0.1:4222 with JetStream); .ci/run sets it")
	}
	outside := func(c *hub.Config) { c.NATSURL = url }
	servers := []*hubtest.Server{hubtest.Start(t, outside), hubtest.Start(t, outside), hubtest.Start(t, outside)}
	a := servers[0]
	raw := make([]byte, 4)
	rand.Read(raw) //nolint:errcheck // never fails
	sol := "kscache-" + hex.EncodeToString(raw)
	a.CreateSolution(t, sol)
	t.Cleanup(func() { a.Do(t, "DELETE", "/api/v1/solutions/"+sol, a.AdminToken, nil) })
	scripts := map[string]string{
		"/incr":  `local r = Keystore.incrby({key = request.body.key, args = {1}}) if r.error then error(r.error) end return r`,
		"/set":   `local r = Keystore.set({key = request.body.key, value = request.body.value}) if r and r.error then error(r.error) end return Keystore.get({key = request.body.key})`,
		"/get":   `return Keystore.get({key = request.body.key})`,
		"/setnx": `local r = Keystore.setnx({key = request.body.key, args = {request.body.value}}) if r.error then error(r.error) end return r`,
	}
	for path, script := range scripts {
		a.Deploy(t, sol, "POST", path, script)
	}
	call := func(s *hubtest.Server, path string, body map[string]any) map[string]any {
		t.Helper()
		return wantStatus(t, s.Do(t, "POST", "/apps/"+sol+path, "", body), http.StatusOK)
	}
	for _, s := range servers {
		hubtest.Eventually(t, "every instance to serve the endpoints", func() bool {
			for path := range scripts {
				if s.Do(t, "POST", "/apps/"+sol+path, "", map[string]any{"key": "probe" + path, "value": "p"}).Status != http.StatusOK {
					return false
				}
			}
			return true
		})
	}

	// A value set on one instance: read at once there, and on the others within a bound.
	for i, s := range servers {
		v := fmt.Sprintf("from-%d", i)
		if got := call(s, "/set", map[string]any{"key": "shared", "value": v})["value"]; got != v {
			t.Fatalf("instance %d read %v right after writing %q", i, got, v)
		}
		if got := call(s, "/get", map[string]any{"key": "shared"})["value"]; got != v {
			t.Fatalf("instance %d read %v after writing %q", i, got, v)
		}
		for j, o := range servers {
			hubtest.Eventually(t, fmt.Sprintf("instance %d to read instance %d's write", j, i), func() bool {
				return call(o, "/get", map[string]any{"key": "shared"})["value"] == v
			})
		}
	}
	// Setting the value every cache holds, after another instance changed it, stores it.
	call(servers[1], "/set", map[string]any{"key": "shared", "value": "changed"})
	call(servers[2], "/set", map[string]any{"key": "shared", "value": "from-2"})
	hubtest.Eventually(t, "instance 1 to read the value set again", func() bool {
		return call(servers[1], "/get", map[string]any{"key": "shared"})["value"] == "from-2"
	})

	// 10,000 increments from 30 clients spread over the three instances.
	const incrs, clients = 10_000, 30
	next := make(chan int)
	var wg sync.WaitGroup
	errs := make(chan string, clients)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r := servers[(c+i)%3].Do(t, "POST", "/apps/"+sol+"/incr", "", map[string]any{"key": "n"})
				if r.Status != http.StatusOK {
					errs <- fmt.Sprintf("increment %d: %d %s", i, r.Status, r.Body)
					for range next {
					}
					return
				}
			}
		}()
	}
	for i := range incrs {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	for i, s := range servers {
		hubtest.Eventually(t, fmt.Sprintf("instance %d to read the sum", i), func() bool {
			return call(s, "/get", map[string]any{"key": "n"})["value"] == strconv.Itoa(incrs)
		})
	}

	// setnx races: for each key, one request per instance at once; exactly one wins.
	for k := range 20 {
		key := fmt.Sprintf("nx-%d", k)
		wins := make(chan string, len(servers))
		var race sync.WaitGroup
		for i, s := range servers {
			race.Add(1)
			go func() {
				defer race.Done()
				r := s.Do(t, "POST", "/apps/"+sol+"/setnx", "", map[string]any{"key": key, "value": strconv.Itoa(i)})
				if r.Status == http.StatusOK && r.Map(t)["value"] == float64(1) {
					wins <- strconv.Itoa(i)
				}
			}()
		}
		race.Wait()
		close(wins)
		var won []string
		for w := range wins {
			won = append(won, w)
		}
		if len(won) != 1 {
			t.Fatalf("setnx %s: winners %v, want exactly one", key, won)
		}
		hubtest.Eventually(t, "every instance to read the winner's value", func() bool {
			for _, s := range servers {
				if call(s, "/get", map[string]any{"key": key})["value"] != won[0] {
					return false
				}
			}
			return true
		})
	}
}

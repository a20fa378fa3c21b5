package hub_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"

	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// credentials is a broker account a test can take away and give back while a connector uses
// it, and a way to send that broker numbered messages.
type credentials struct {
	config  map[string]any // the connector's config, with the account's credentials
	revoke  func(t *testing.T)
	grant   func(t *testing.T)
	publish func(t *testing.T, n int)
	// refused is what the connector's last error says once the account is gone.
	refused string
	secret  string // never to be shown in a status
}

// TestConnectorCredentialsStopWorking: a broker account taken away while its connector runs
// (the broker closes the connection and refuses the next login) is a state change — backing
// off, with the refusal as the last error and no password in it — never a crashed hub, and
// once the account is back the connector resumes with every message, each handled once.
func TestConnectorCredentialsStopWorking(t *testing.T) {
	t.Parallel()
	for name, setup := range map[string]func(t *testing.T) *credentials{
		"redis": redisCredentials,
		"amqp":  amqpCredentials,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			creds := setup(t)
			s := hubtest.Start(t)
			tok := s.CreateSolution(t, "plant")
			deployHandler(t, s, "plant", "seen", []string{"plant.in"},
				`Keystore.incr({key = "seen_" .. event.data.n})`) // one write: counts each number's runs
			if r := s.Do(t, "POST", "/api/v1/solutions/plant/connectors", tok, map[string]any{
				"name": "feed", "type": name, "topic": "plant.in", "config": creds.config,
			}); r.Status != http.StatusCreated {
				t.Fatalf("create connector: %d %s", r.Status, r.Body)
			}
			// handled is how many of 1..n ran, and whether any ran twice.
			handled := func(n int) (int, bool) {
				got, twice := 0, false
				for i := 1; i <= n; i++ {
					r := s.Do(t, "GET", fmt.Sprintf("/api/v1/solutions/plant/keystore/keys/seen_%d", i), tok, nil)
					if r.Status != http.StatusOK {
						continue
					}
					got++
					twice = twice || r.Map(t)["value"] != "1"
				}
				return got, twice
			}
			status := func() connectorAnswer {
				var c connectorAnswer
				s.Do(t, "GET", "/api/v1/solutions/plant/connectors/feed", tok, nil).JSON(t, &c)
				return c
			}
			waitFor(t, "the connector running", 30*time.Second, func() bool { return status().Status.State == "running" })
			for n := 1; n <= 5; n++ {
				creds.publish(t, n)
			}
			waitFor(t, "the first 5 handled", 30*time.Second, func() bool { got, _ := handled(5); return got == 5 })

			creds.revoke(t)
			for n := 6; n <= 10; n++ {
				creds.publish(t, n)
			}
			var st connectorAnswer
			deadline := time.Now().Add(60 * time.Second)
			for st = status(); st.Status.State != "backing-off" || !strings.Contains(st.Status.LastError, creds.refused); st = status() {
				if time.Now().After(deadline) {
					t.Fatalf("after 60s the connector is %s with last error %q, want backing-off with %q", st.Status.State, st.Status.LastError, creds.refused)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if strings.Contains(st.Status.LastError, creds.secret) {
				t.Errorf("last_error shows the password: %q", st.Status.LastError)
			}
			if r := s.Do(t, "GET", "/readyz", "", nil); r.Status != http.StatusOK {
				t.Fatalf("the hub after the refusal: %d", r.Status)
			}

			creds.grant(t)
			waitFor(t, "all 10 handled once the account is back", 90*time.Second, func() bool { got, _ := handled(10); return got == 10 })
			if _, twice := handled(10); twice {
				t.Error("a message was handled twice")
			}
		})
	}
}

func randomSuffix(t *testing.T) string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// redisCredentials is an ACL user of its own, limited to one stream; ACL DELUSER closes its
// connections, as an operator rotating credentials would.
func redisCredentials(t *testing.T) *credentials {
	raw := os.Getenv("SWITCHBOARD_TEST_REDIS_URL")
	if raw == "" {
		t.Skip("SWITCHBOARD_TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/0); .ci/run sets it")
	}
	opts, err := redis.ParseURL(raw)
	if err != nil {
		t.Fatal(err)
	}
	admin := redis.NewClient(opts)
	t.Cleanup(func() { admin.Close() })
	ctx := context.Background()
	sfx := randomSuffix(t)
	user, pass, stream := "sbcred-"+sfx, "pw-"+sfx+"-secret", "sbcred-"+sfx
	grant := func(t *testing.T) {
		if err := admin.Do(ctx, "ACL", "SETUSER", user, "on", ">"+pass, "~"+stream, "+@all").Err(); err != nil {
			t.Fatalf("ACL SETUSER: %v", err)
		}
	}
	grant(t)
	t.Cleanup(func() {
		admin.Do(ctx, "ACL", "DELUSER", user)
		admin.Del(ctx, stream)
	})
	u := url.URL{Scheme: "redis", User: url.UserPassword(user, pass), Host: opts.Addr, Path: "/0"}
	return &credentials{
		config: map[string]any{"url": u.String(), "stream": stream, "group": "plant", "start": "0", "block": "500ms"},
		revoke: func(t *testing.T) {
			if err := admin.Do(ctx, "ACL", "DELUSER", user).Err(); err != nil {
				t.Fatalf("ACL DELUSER: %v", err)
			}
		},
		grant: grant,
		publish: func(t *testing.T, n int) {
			if err := admin.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{"n", n}}).Err(); err != nil {
				t.Fatalf("XADD: %v", err)
			}
		},
		refused: "WRONGPASS",
		secret:  pass,
	}
}

// amqpCredentials is a RabbitMQ user of its own (rabbitmqctl); deleting a user closes its
// connections.
func amqpCredentials(t *testing.T) *credentials {
	raw := os.Getenv("SWITCHBOARD_TEST_AMQP_URL")
	if raw == "" {
		t.Skip("SWITCHBOARD_TEST_AMQP_URL is not set (e.g. amqp://guest:guest@127.0.0.1:5672/); .ci/run sets it")
	}
	ctl, err := exec.LookPath("rabbitmqctl")
	if err != nil {
		t.Skip("rabbitmqctl is not installed: users cannot be made and taken away here")
	}
	run := func(t *testing.T, args ...string) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if out, err := exec.CommandContext(ctx, ctl, append([]string{"-q"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("rabbitmqctl %s: %v\n%s", args[0], err, out)
		}
	}
	sfx := randomSuffix(t)
	user, pass, queue := "sbcred-"+sfx, "pw-"+sfx+"-secret", "sbcred-"+sfx
	grant := func(t *testing.T) {
		run(t, "add_user", user, pass)
		run(t, "set_permissions", "-p", "/", user, ".*", ".*", ".*")
	}
	grant(t)
	conn, err := amqp.Dial(raw)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ch.QueueDelete(queue, false, false, false)
		conn.Close()
		exec.Command(ctl, "-q", "delete_user", user).Run()
	})
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(user, pass)
	return &credentials{
		config: map[string]any{"url": u.String(), "queue": queue, "connect_timeout": "5s"},
		revoke: func(t *testing.T) { run(t, "delete_user", user) },
		grant:  grant,
		publish: func(t *testing.T, n int) {
			err := ch.PublishWithContext(context.Background(), "", queue, false, false, amqp.Publishing{
				ContentType: "application/json", DeliveryMode: amqp.Persistent, Body: []byte(fmt.Sprintf(`{"n":%d}`, n)),
			})
			if err != nil {
				t.Fatalf("publish: %v", err)
			}
		},
		refused: "username or password not allowed",
		secret:  pass,
	}
}

package bus

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestEmbedded(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	addr := freeAddr(t)
	const token = "nats-test-token-0123456789"
	b, err := Open(ctx, Config{DataDir: dir, Listen: addr, Name: "test", Token: token})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if !b.Embedded() || !b.Ready() || b.ClientURL() == "" {
		t.Fatalf("embedded=%v ready=%v url=%q", b.Embedded(), b.Ready(), b.ClientURL())
	}
	kv, err := b.KeyValue(ctx, jetstream.KeyValueConfig{Bucket: "t"})
	if err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	// An outside program reaches the embedded server on --nats-listen with the token, and
	// only with it.
	if nc, err := nats.Connect(b.ClientURL()); err == nil {
		nc.Close()
		t.Fatal("an outside client without the token was let in")
	}
	nc, err := nats.Connect(b.ClientURL(), nats.Token(token))
	if err != nil {
		t.Fatalf("outside client: %v", err)
	}
	nc.Close()
	if err := b.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if _, err := os.Stat(dir + "/jetstream"); err != nil {
		t.Fatalf("no jetstream files under the data dir: %v", err)
	}
	// The bucket and its value are still there after a restart; opening it again is fine.
	b, err = Open(ctx, Config{DataDir: dir, Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.ClientURL() != "" {
		t.Fatalf("in-process only, yet ClientURL = %q", b.ClientURL())
	}
	kv, err = b.KeyValue(ctx, jetstream.KeyValueConfig{Bucket: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if e, err := kv.Get(ctx, "k"); err != nil || string(e.Value()) != "v" {
		t.Fatalf("after restart: %v %v", e, err)
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"unreachable url", Config{URL: "nats://127.0.0.1:1"}, "connect to nats"},
		{"bad listen", Config{DataDir: t.TempDir(), Listen: "nope", Token: "nats-test-token-0123456789"}, "nats-listen"},
		{"bad listen port", Config{DataDir: t.TempDir(), Listen: "127.0.0.1:x", Token: "nats-test-token-0123456789"}, "nats-listen"},
		{"listen without token", Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0"}, "token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Open(context.Background(), tc.cfg)
			if err == nil {
				b.Close()
				t.Fatalf("Open succeeded, want an error with %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestOutside(t *testing.T) {
	url := os.Getenv("SWITCHBOARD_TEST_NATS_URL")
	if url == "" {
		t.Skip("SWITCHBOARD_TEST_NATS_URL is not set; .ci/run sets it")
	}
	b, err := Open(context.Background(), Config{URL: url, Name: "bus-test"})
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	defer b.Close()
	if b.Embedded() || b.ClientURL() != url {
		t.Fatalf("embedded=%v url=%q", b.Embedded(), b.ClientURL())
	}
}

// TestRedacted: credentials in NATS URLs never reach a log line or an error message.
func TestRedacted(t *testing.T) {
	for in, want := range map[string]string{
		"nats://127.0.0.1:4222":                   "nats://127.0.0.1:4222",
		"nats://s3cr3t-token@127.0.0.1:4222":      "nats://redacted@127.0.0.1:4222",
		"nats://user:pass@n1:4222,nats://n2:4222": "nats://redacted@n1:4222,nats://n2:4222",
		"nats://a@n1:4222, tls://b:c@n2:4222":     "nats://redacted@n1:4222,tls://redacted@n2:4222",
		"nats://tok%zz@n1:4222":                   "(a URL that does not parse)",
		"":                                        "",
	} {
		if got := Redacted(in); got != want {
			t.Errorf("Redacted(%q) = %q, want %q", in, got, want)
		}
	}
}

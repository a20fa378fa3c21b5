package bus

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go"
)

// Two tenants, as the hub's solutions: user = tenant, password = its token.
var testTenants = map[string]struct{ password, account string }{
	"plant":  {"plant-token-0123456789", "sb_plant_1"},
	"office": {"office-token-0123456789", "sb_office_1"},
}

const testBusToken = "bus-token-0123456789"

func mqttConfig(change func(*MQTTConfig)) *MQTTConfig {
	c := &MQTTConfig{
		Listen: "127.0.0.1:0",
		Login: func(user, password string) Grant {
			if t, ok := testTenants[user]; ok && t.password == password {
				return Grant{Account: t.account}
			}
			// An application of the plant, confined to its own topics.
			if user == "plant-shop" && password == "shop-secret-0123456789" {
				return Grant{Account: testTenants["plant"].account, Subjects: []string{"shop.>"}}
			}
			return Grant{}
		},
		Account: func(user string) string {
			return testTenants[user].account
		},
		MaxConnections:           100,
		MaxConnectionsPerAccount: 10,
		MaxPayload:               1 << 20,
		StoragePerAccount:        4 << 20,
	}
	if change != nil {
		change(c)
	}
	return c
}

func openMQTT(t *testing.T, dir string, change func(*MQTTConfig)) *Bus {
	t.Helper()
	b, err := Open(context.Background(), Config{DataDir: dir, Name: "mqtt-test", Listen: freeAddr(t), Token: testBusToken, MQTT: mqttConfig(change)})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// device connects to the listener as MQTT 3.1.1 client id.
func device(b *Bus, id, user, password string) (mqtt.Client, error) {
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + b.MQTTDialAddr()).
		SetClientID(id).SetUsername(user).SetPassword(password).SetProtocolVersion(4).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second))
	if err := wait(c.Connect()); err != nil {
		return nil, err
	}
	return c, nil
}

func mustDevice(t *testing.T, b *Bus, id, user string) mqtt.Client {
	t.Helper()
	c, err := device(b, id, user, testTenants[user].password)
	if err != nil {
		t.Fatalf("device %s of %s: %v", id, user, err)
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

func wait(tok mqtt.Token) error {
	if !tok.WaitTimeout(10 * time.Second) {
		return errors.New("timed out")
	}
	return tok.Error()
}

// inbox collects what a subscription receives.
type inbox struct {
	mu   sync.Mutex
	msgs []string // "topic payload"
}

func (in *inbox) handler(_ mqtt.Client, m mqtt.Message) {
	in.mu.Lock()
	in.msgs = append(in.msgs, m.Topic()+" "+string(m.Payload()))
	in.mu.Unlock()
}

func (in *inbox) has(msg string) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, m := range in.msgs {
		if m == msg {
			return true
		}
	}
	return false
}

func (in *inbox) all() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]string(nil), in.msgs...)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMQTTLogins: a device gets in with its tenant's credentials only; a wrong password and
// an unknown tenant are refused alike; the hub's own passwords and the bus token open what
// they are for and nothing else; NATS clients get in with the bus token only.
func TestMQTTLogins(t *testing.T) {
	b := openMQTT(t, t.TempDir(), nil)
	for _, tc := range []struct {
		name, user, password string
		ok                   bool
	}{
		{"tenant", "plant", testTenants["plant"].password, true},
		{"wrong password", "plant", "plant-token-wrong", false},
		{"another tenant's password", "plant", testTenants["office"].password, false},
		{"unknown tenant", "nobody", "plant-token-0123456789", false},
		{"no password", "plant", "", false},
		{"the bus token", "plant", testBusToken, false},
		{"the hub's own password", "plant", b.MQTTOwnPassword("plant"), true},
		{"the hub's own password of another tenant", "office", b.MQTTOwnPassword("plant"), false},
		{"a made-up own password", "plant", mqttOwnPrefix + strings.Repeat("0", 64), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := device(b, "dev-1", tc.user, tc.password)
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				c.Disconnect(0)
				return
			}
			if err == nil {
				c.Disconnect(0)
				t.Fatal("let in")
			}
			// The same answer whether the tenant exists or not.
			if err.Error() != "not Authorized" {
				t.Fatalf("refused with %q, want the CONNACK of not authorized", err)
			}
		})
	}
	t.Run("nats", func(t *testing.T) {
		url := b.ClientURL()
		if nc, err := nats.Connect(url, nats.UserInfo("plant", testTenants["plant"].password)); err == nil {
			nc.Close()
			t.Fatal("a NATS client with a tenant's credentials was let in")
		}
		if nc, err := nats.Connect(url, nats.Token(testTenants["plant"].password)); err == nil {
			nc.Close()
			t.Fatal("a NATS client with a tenant's token was let in")
		}
		nc, err := nats.Connect(url, nats.Token(testBusToken))
		if err != nil {
			t.Fatalf("the bus token: %v", err)
		}
		nc.Close()
	})
}

// TestMQTTIsolation: what a tenant's devices publish reaches its own devices only: not the
// other tenant's, not the hub's global account; no device reaches the JetStream, KV or system
// subjects, and publishing to them changes nothing.
func TestMQTTIsolation(t *testing.T) {
	b := openMQTT(t, t.TempDir(), nil)
	hub := b.Conn()
	hubSub, err := hub.SubscribeSync("sensors.>")
	if err != nil {
		t.Fatal(err)
	}
	defer hubSub.Unsubscribe() //nolint:errcheck // the bus closes after
	if err := hub.Flush(); err != nil {
		t.Fatal(err)
	}
	plantIn, officeIn := &inbox{}, &inbox{}
	plant1, plant2 := mustDevice(t, b, "dev-1", "plant"), mustDevice(t, b, "dev-2", "plant")
	office := mustDevice(t, b, "dev-1", "office") // the same client id in another tenant is another session
	if err := wait(plant2.Subscribe("#", 1, plantIn.handler)); err != nil {
		t.Fatal(err)
	}
	if err := wait(office.Subscribe("#", 1, officeIn.handler)); err != nil {
		t.Fatal(err)
	}
	for _, filter := range []string{"$JS/API/#", "$KV/#", "$SYS/#", "$JS/#", "$MQTT/msgs/#", "_INBOX/#"} {
		tok := office.Subscribe(filter, 0, officeIn.handler)
		if err := wait(tok); err != nil {
			t.Fatal(err)
		}
		if got := tok.(*mqtt.SubscribeToken).Result()[filter]; got != 0x80 {
			t.Errorf("subscribe %s: granted %d, want refused (128)", filter, got)
		}
	}
	// Attempts at the account's own JetStream: refused, so its MQTT state stays whole.
	for _, topic := range []string{"$JS/API/STREAM/DELETE/$MQTT_msgs", "$JS/API/STREAM/PURGE/$MQTT_sess", "$KV/sb_solutions/plant", "$MQTT/msgs/forged"} {
		if err := wait(plant1.Publish(topic, 1, false, "{}")); err != nil {
			t.Fatalf("publish %s: %v", topic, err)
		}
	}
	if err := wait(plant1.Publish("sensors/boiler", 1, false, "21.5")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the plant's device to receive its message", func() bool { return plantIn.has("sensors/boiler 21.5") })
	// The office's marker comes after the plant's message would have, had it been routed there.
	if err := wait(office.Publish("office/marker", 1, false, "m")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the office's marker", func() bool { return officeIn.has("office/marker m") })
	if got := officeIn.all(); len(got) != 1 {
		t.Errorf("the office's device received %v", got)
	}
	if got := plantIn.all(); len(got) != 1 {
		t.Errorf("the plant's device received %v, want its one message (nothing of $ subjects)", got)
	}
	// Nor does the hub's account see devices' messages (they were routed before this one),
	// nor do devices see the hub's.
	if err := hub.Publish("sensors.boiler", []byte("from the hub")); err != nil {
		t.Fatal(err)
	}
	if err := hub.Flush(); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := hubSub.Pending(); n != 1 {
		t.Errorf("the hub's account has %d messages on sensors.>, want its own one", n)
	}
	if err := wait(plant1.Publish("sensors/after", 1, false, "x")); err != nil {
		t.Fatalf("the plant's MQTT state after the attempts on its JetStream: %v", err)
	}
	eventually(t, "the plant's second message", func() bool { return plantIn.has("sensors/after x") })
	if plantIn.has("sensors/boiler from the hub") {
		t.Error("a device received the hub's message")
	}
}

// TestMQTTBounds: a message larger than MaxPayload closes its device's connection; devices
// beyond an account's or the server's bound are refused (the hub's own clients are not); an
// account cannot store more than StoragePerAccount, and its neighbour goes on.
func TestMQTTBounds(t *testing.T) {
	b := openMQTT(t, t.TempDir(), func(c *MQTTConfig) {
		c.MaxConnections, c.MaxConnectionsPerAccount = 4, 3
		c.MaxPayload = 64 << 10
	})
	t.Run("payload", func(t *testing.T) {
		d := mustDevice(t, b, "payload", "plant")
		if err := wait(d.Publish("big", 1, false, make([]byte, 32<<10))); err != nil {
			t.Fatalf("half the bound: %v", err)
		}
		_ = wait(d.Publish("big", 1, false, make([]byte, 64<<10+1)))
		eventually(t, "the connection to close", func() bool { return !d.IsConnectionOpen() })
	})
	t.Run("connections", func(t *testing.T) {
		var held []mqtt.Client
		defer func() {
			for _, c := range held {
				c.Disconnect(0)
			}
		}()
		for i := range 3 {
			c, err := device(b, "plant-"+string(rune('a'+i)), "plant", testTenants["plant"].password)
			if err != nil {
				t.Fatalf("device %d of 3: %v", i+1, err)
			}
			held = append(held, c)
		}
		if c, err := device(b, "plant-d", "plant", testTenants["plant"].password); err == nil {
			c.Disconnect(0)
			t.Fatal("a 4th device of one account was let in")
		}
		own, err := device(b, "own", "plant", b.MQTTOwnPassword("plant"))
		if err != nil {
			t.Fatalf("the hub's own client at the account's bound: %v", err)
		}
		held = append(held, own)
		// 4 connected in all: the office's first device is one too many.
		if c, err := device(b, "office-a", "office", testTenants["office"].password); err == nil {
			c.Disconnect(0)
			t.Fatal("a device beyond the server's bound was let in")
		}
		held[0].Disconnect(250)
		held = held[1:]
		eventually(t, "a place to free", func() bool {
			c, err := device(b, "office-a", "office", testTenants["office"].password)
			if err == nil {
				held = append(held, c)
			}
			return err == nil
		})
	})
	t.Run("subscriptions", func(t *testing.T) {
		d := roomyDevice(t, b, "subscriber", "office")
		filters := map[string]byte{}
		for i := range mqttMaxSubsPerAccount + 1 {
			filters["q0/"+strconv.Itoa(i)] = 0
		}
		if refused := subscribe(t, d, filters); refused == 0 {
			t.Errorf("%d subscriptions of one device all granted", len(filters))
		}
	})
	t.Run("storage", func(t *testing.T) {
		// A session subscribed at QoS 1 and gone: the server keeps every message for it.
		keeper := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + b.MQTTDialAddr()).SetProtocolVersion(4).
			SetClientID("keeper").SetUsername("plant").SetPassword(testTenants["plant"].password).SetCleanSession(false))
		eventually(t, "room for the keeper", func() bool { return wait(keeper.Connect()) == nil })
		if err := wait(keeper.Subscribe("kept/#", 1, nil)); err != nil {
			t.Fatal(err)
		}
		keeper.Disconnect(250)
		d := roomyDevice(t, b, "hoarder", "plant")
		chunk := make([]byte, 60<<10)
		for i := 0; i < 200 && d.IsConnectionOpen(); i++ {
			_ = wait(d.Publish("kept/x", 1, false, chunk))
		}
		// A message that cannot be stored gets no PUBACK: the device's connection closes, and
		// the device sends it again later.
		if d.IsConnectionOpen() {
			t.Error("12 MiB offered, and the device is still connected")
		}
		b.mqtt.mu.Lock()
		acc := b.mqtt.accounts["sb_plant_1"]
		b.mqtt.mu.Unlock()
		if used := acc.JetStreamUsage().Store; used > 4<<20 || used < 3<<20 {
			t.Errorf("the account stores %d bytes, want its 4 MiB at most, and nearly", used)
		}
		// Its neighbour stores on.
		office := roomyDevice(t, b, "office-b", "office")
		if err := wait(office.Publish("sensors/x", 1, true, "kept")); err != nil {
			t.Fatalf("the other account: %v", err)
		}
	})
}

// TestMQTTConsumers: the JetStream consumers an account's QoS 1 subscriptions make are
// bounded, over all its sessions (a session has at most 63 of them at the server's default
// ack pending, so the bound is lowered here).
func TestMQTTConsumers(t *testing.T) {
	b := openMQTT(t, t.TempDir(), nil)
	b.mqtt.mu.Lock()
	b.mqtt.maxConsumers = 50
	b.mqtt.mu.Unlock()
	granted, refused := 0, 0
	for d := range 2 {
		dev := mustDevice(t, b, "dev-"+strconv.Itoa(d), "plant")
		filters := map[string]byte{}
		for i := range 30 {
			filters["d"+strconv.Itoa(d)+"/"+strconv.Itoa(i)] = 1
		}
		r := subscribe(t, dev, filters)
		granted, refused = granted+len(filters)-r, refused+r
	}
	if granted > 50 || refused == 0 {
		t.Errorf("%d QoS 1 subscriptions granted, %d refused; want at most 50 granted", granted, refused)
	}
}

// subscribe subscribes d to filters and returns how many were refused.
func subscribe(t *testing.T, d mqtt.Client, filters map[string]byte) int {
	t.Helper()
	tok := d.SubscribeMultiple(filters, nil)
	if err := wait(tok); err != nil {
		t.Fatalf("subscribe to %d filters: %v", len(filters), err)
	}
	refused := 0
	for _, q := range tok.(*mqtt.SubscribeToken).Result() {
		if q == 0x80 {
			refused++
		}
	}
	return refused
}

// TestMQTTDrop: dropping a tenant's accounts disconnects its devices and deletes what was
// stored for them, also after a restart (accounts not made again yet); the other tenant goes
// on.
func TestMQTTDrop(t *testing.T) {
	dir := t.TempDir()
	b := openMQTT(t, dir, nil)
	plant := mustDevice(t, b, "dev-1", "plant")
	office := mustDevice(t, b, "dev-1", "office")
	if err := wait(plant.Publish("kept", 1, true, "v")); err != nil {
		t.Fatal(err)
	}
	accDir := func(name string) string {
		return filepath.Join(b.server.JetStreamConfig().StoreDir, name)
	}
	if _, err := os.Stat(accDir("sb_plant_1")); err != nil {
		t.Fatalf("no state of the plant's account: %v", err)
	}
	if err := b.DropMQTTAccounts("sb_plant_"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the plant's device to be disconnected", func() bool { return !plant.IsConnectionOpen() })
	if _, err := os.Stat(accDir("sb_plant_1")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the plant's account's state is still there: %v", err)
	}
	if !office.IsConnectionOpen() {
		t.Fatal("the office's device was disconnected")
	}
	if err := wait(office.Publish("kept", 1, true, "v")); err != nil {
		t.Fatal(err)
	}
	office.Disconnect(0)
	store := b.server.JetStreamConfig().StoreDir
	b.Close()

	// After a restart, before any device of it logs in again.
	b = openMQTT(t, dir, nil)
	if _, err := os.Stat(filepath.Join(store, "sb_office_1")); err != nil {
		t.Fatalf("the office's account's state after the restart: %v", err)
	}
	if err := b.DropMQTTAccounts("sb_office_"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(store, "sb_office_1")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the office's account's state is still there: %v", err)
	}
	if err := b.DropMQTTAccounts(""); err == nil {
		t.Fatal("dropping every account (an empty prefix) was accepted")
	}
}

// TestListenerOpenErrors: a taken port of the MQTT or leaf node listener fails before the
// server starts, naming the flag; the listeners need the embedded server.
func TestListenerOpenErrors(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"port taken", Config{DataDir: t.TempDir(), MQTT: mqttConfig(func(c *MQTTConfig) { c.Listen = taken.Addr().String() })}, "mqtt-listen"},
		{"not an address", Config{DataDir: t.TempDir(), MQTT: mqttConfig(func(c *MQTTConfig) { c.Listen = "1883" })}, "mqtt-listen"},
		{"bad port", Config{DataDir: t.TempDir(), MQTT: mqttConfig(func(c *MQTTConfig) { c.Listen = "127.0.0.1:99999" })}, "mqtt-listen"},
		{"outside nats", Config{URL: "nats://127.0.0.1:1", MQTT: mqttConfig(nil)}, "embedded server"},
		{"leaf port taken", Config{DataDir: t.TempDir(), Leaf: &LeafConfig{Listen: taken.Addr().String()}}, "leaf-listen"},
		{"leaf not an address", Config{DataDir: t.TempDir(), Leaf: &LeafConfig{Listen: "7422"}}, "leaf-listen"},
		{"leaf without login", Config{DataDir: t.TempDir(), Leaf: &LeafConfig{Listen: "127.0.0.1:0"}}, "no login"},
		{"leaf outside nats", Config{URL: "nats://127.0.0.1:1", Leaf: &LeafConfig{Listen: "127.0.0.1:0"}}, "embedded server"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Open(context.Background(), tc.cfg)
			if err == nil {
				b.Close()
				t.Fatal("opened")
			}
			// Not the server's start timeout: the address is checked before it starts.
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

// TestMQTTConfinedLogin: a login granted some subjects (an application of a tenant) publishes
// and subscribes there only; its tenant's devices see what it publishes there.
func TestMQTTConfinedLogin(t *testing.T) {
	b := openMQTT(t, t.TempDir(), nil)
	in := &inbox{}
	plant := mustDevice(t, b, "dev-1", "plant")
	if err := wait(plant.Subscribe("#", 1, in.handler)); err != nil {
		t.Fatal(err)
	}
	shop, err := device(b, "shop-1", "plant-shop", "shop-secret-0123456789")
	if err != nil {
		t.Fatalf("the confined login: %v", err)
	}
	t.Cleanup(func() { shop.Disconnect(0) })
	for _, filter := range []string{"#", "other/#", "sensors/boiler"} {
		tok := shop.Subscribe(filter, 0, in.handler)
		if err := wait(tok); err != nil {
			t.Fatal(err)
		}
		if got := tok.(*mqtt.SubscribeToken).Result()[filter]; got != 0x80 {
			t.Errorf("confined subscribe %s: granted %d, want refused (128)", filter, got)
		}
	}
	// Outside its subjects a publish goes nowhere (MQTT 3.1.1 cannot say so); its own arrive.
	if err := wait(shop.Publish("sensors/boiler", 1, false, "forged")); err != nil {
		t.Fatal(err)
	}
	if err := wait(shop.Publish("shop/order.created/v1", 1, false, "mine")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the application's own message", func() bool { return in.has("shop/order.created/v1 mine") })
	if in.has("sensors/boiler forged") {
		t.Error("a confined login published outside its subjects")
	}
}

// roomyDevice is mustDevice once there is room under the connection bounds: the server may
// not have let an earlier subtest's devices go yet.
func roomyDevice(t *testing.T, b *Bus, id, user string) mqtt.Client {
	t.Helper()
	var d mqtt.Client
	eventually(t, "room for device "+id, func() bool {
		c, err := device(b, id, user, testTenants[user].password)
		d = c
		return err == nil
	})
	t.Cleanup(func() { d.Disconnect(0) })
	return d
}

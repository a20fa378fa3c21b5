package bus

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
)

// MQTTConfig turns on the embedded server's MQTT listener (MQTT 3.1.1, the version
// nats-server speaks). Each tenant's devices are confined to a NATS account of their own,
// made on their first login, with JetStream (where the server keeps MQTT sessions and QoS 1
// and 2 messages) bounded per account; the hub's own clients stay in the global account,
// which no device can reach.
type MQTTConfig struct {
	// Listen is host:port; port 0 picks a free port (see Bus.MQTTAddr).
	Listen string
	// Login is what the client logging in with user and password may do: its account ("" to
	// refuse it) and, for a client confined to some topics, those topics. It must answer
	// alike, in time too, for an unknown user and a wrong password.
	Login func(user, password string) Grant
	// Account is the account of the tenant named user, for the hub's own clients (see
	// MQTTOwnPassword); "" when there is none.
	Account func(user string) (account string)
	// MaxConnections bounds the devices connected at once in all, MaxConnectionsPerAccount
	// those of one account; beyond, a device is refused as not authorized (and the refusal
	// logged). The hub's own clients are not refused, but count.
	MaxConnections, MaxConnectionsPerAccount int
	// MaxPayload bounds a message a device publishes; a larger one closes its connection.
	MaxPayload int64
	// StoragePerAccount bounds the JetStream file storage of one account: its sessions,
	// retained messages and the QoS 1 and 2 messages not yet acknowledged by all subscribers.
	StoragePerAccount int64
	// AckWait is how long the server waits for a subscriber's acknowledgement of a QoS 1 or
	// 2 message before sending it again; 0 is the server's default, 30s.
	AckWait time.Duration
	// Logger gets refusals and failures; nil discards them.
	Logger *slog.Logger
}

// Grant is what a login may do in the embedded server.
type Grant struct {
	// Account is the tenant's account it joins; "" refuses the login.
	Account string
	// Subjects, when not nil, are the only subjects it may publish and subscribe to, as NATS
	// spells the MQTT topics (shop/order/v1 is shop.order.v1; shop/# is shop.> and shop): an
	// application publishing its own events, say. nil leaves every subject of the account but
	// the reserved ones.
	Subjects []string
}

// Per-account bounds that are not settings: a device's subscriptions, and the JetStream
// consumers the account's QoS 1 and 2 subscriptions make (one each).
const (
	mqttMaxSubsPerAccount      = 10000
	mqttMaxConsumersPerAccount = 1000
	// mqttOwnPrefix starts the passwords of the hub's own MQTT clients.
	mqttOwnPrefix = "sbo_"
)

// mqttReserved are the subjects a device may neither publish nor subscribe to in its
// account: the JetStream, KV, object store and system APIs and reply inboxes. Publishing to
// $MQTT.> (the MQTT machinery's own subjects) is refused too; subscribing to it the MQTT layer
// refuses itself, and a deny here would break its QoS 1 deliveries.
var mqttReserved = []string{"$JS.>", "$JSC.>", "$KV.>", "$O.>", "$SYS.>", "$NRG.>", "$SRV.>", "_INBOX.>", "_R_.>"}

// mqttAuth decides who connects to the embedded server: the hub's own clients (NATS, with the
// bus token) into the global account, devices (MQTT, with a tenant's credentials) into their
// tenant's account.
type mqttAuth struct {
	cfg    MQTTConfig
	token  string // the hub's NATS clients'
	secret []byte // keys the hub's own MQTT clients' passwords
	log    *slog.Logger
	// maxSubs and maxConsumers are the per-account bounds (tests lower them).
	maxSubs, maxConsumers int64

	mu       sync.Mutex
	srv      *server.Server
	accounts map[string]*server.Account // made by this process, by name

	leaf *leafAuth // nil without a leaf node listener
}

func newMQTTAuth(cfg MQTTConfig, leaf *LeafConfig, token string) (*mqttAuth, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("mqtt secret: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &mqttAuth{cfg: cfg, token: token, secret: secret, log: log, accounts: map[string]*server.Account{},
		maxSubs: mqttMaxSubsPerAccount, maxConsumers: mqttMaxConsumersPerAccount}
	if leaf != nil {
		a.leaf = newLeafAuth(*leaf)
	}
	return a, nil
}

// ownPassword is the password of the hub's own MQTT client of tenant user.
func (a *mqttAuth) ownPassword(user string) string {
	m := hmac.New(sha256.New, a.secret)
	m.Write([]byte(user))
	return mqttOwnPrefix + hex.EncodeToString(m.Sum(nil))
}

// Check implements server.Authentication.
func (a *mqttAuth) Check(c server.ClientAuthentication) bool {
	o := c.GetOpts()
	if c.Kind() == server.LEAF {
		if a.leaf == nil {
			return false
		}
		return a.leaf.check(c, a.srv)
	}
	if !isMQTT(c) {
		// NATS: the hub itself (in process) and the programs given --nats-listen's token.
		return a.token != "" && subtle.ConstantTimeCompare([]byte(o.Token), []byte(a.token)) == 1
	}
	user, password := o.Username, o.Password
	own := strings.HasPrefix(password, mqttOwnPrefix) && subtle.ConstantTimeCompare([]byte(password), []byte(a.ownPassword(user))) == 1
	var g Grant
	if own {
		g = Grant{Account: a.cfg.Account(user)}
	} else {
		g = a.cfg.Login(user, password)
	}
	name := g.Account
	if name == "" {
		a.log.Debug("mqtt login refused", "user", user, "remote", remote(c))
		return false
	}
	// Counting and joining under one lock: two devices cannot both take the last place.
	a.mu.Lock()
	defer a.mu.Unlock()
	acc, err := a.account(name)
	if err != nil {
		a.log.Error("mqtt account not ready", "user", user, "err", err)
		return false
	}
	if !own {
		if n := acc.NumLocalConnections(); n >= a.cfg.MaxConnectionsPerAccount {
			a.log.Warn("mqtt connection refused: too many for the solution", "solution", user, "connections", n, "max", a.cfg.MaxConnectionsPerAccount)
			return false
		}
		total := 0
		for _, acc := range a.accounts {
			total += acc.NumLocalConnections()
		}
		if total >= a.cfg.MaxConnections {
			a.log.Warn("mqtt connection refused: too many in all", "solution", user, "connections", total, "max", a.cfg.MaxConnections)
			return false
		}
	}
	perms := &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: g.Subjects, Deny: append([]string{"$MQTT.>"}, mqttReserved...)},
		Subscribe: &server.SubjectPermission{Allow: g.Subjects, Deny: mqttReserved},
	}
	if g.Subjects != nil && len(g.Subjects) == 0 {
		// Confined to nothing: an empty allow list would allow everything.
		perms.Publish.Allow, perms.Subscribe.Allow = []string{"$nothing"}, []string{"$nothing"}
	}
	c.RegisterUser(&server.User{Username: user, Account: acc, Permissions: perms})
	return true
}

// isMQTT reports whether c came in on the MQTT listener: the server names MQTT connections
// "<address> - mid:<id>" (NATS ones "… - cid:<id>"), from facts the client does not choose.
func isMQTT(c server.ClientAuthentication) bool {
	s, ok := c.(fmt.Stringer)
	return ok && strings.Contains(s.String(), " - mid:")
}

func remote(c server.ClientAuthentication) string {
	if a := c.RemoteAddress(); a != nil {
		return a.String()
	}
	return ""
}

// account is the account called name with its limits and JetStream, made when missing. A
// restart finds the JetStream state an account had on disk. a.mu is held.
func (a *mqttAuth) account(name string) (*server.Account, error) {
	if acc, ok := a.accounts[name]; ok && acc.JetStreamEnabled() {
		return acc, nil
	}
	if a.srv == nil {
		return nil, errors.New("the server is not started")
	}
	acc, _ := a.srv.LookupOrRegisterAccount(name)
	// Limits as an operator's account claims carry them: the only way to bound an account's
	// payload and subscriptions besides its JetStream.
	claims := jwt.NewAccountClaims(name)
	claims.Limits.Payload = a.cfg.MaxPayload
	claims.Limits.Subs = a.maxSubs
	claims.Limits.Imports, claims.Limits.Exports = 0, 0
	claims.Limits.LeafNodeConn = 0
	claims.Limits.JetStreamLimits = jwt.JetStreamLimits{
		DiskStorage:   a.cfg.StoragePerAccount,
		MemoryStorage: 0,
		Streams:       -1,
		Consumer:      a.maxConsumers,
		MaxAckPending: -1,
	}
	a.srv.UpdateAccountClaims(acc, claims)
	if !acc.JetStreamEnabled() {
		return nil, fmt.Errorf("account %s: jetstream could not be enabled", name)
	}
	a.accounts[name] = acc
	return acc, nil
}

// drop disconnects the clients of every account whose name starts with prefix, stops their
// JetStream and deletes what they stored, those made by an earlier process included.
func (a *mqttAuth) drop(prefix string) error {
	if prefix == "" {
		return errors.New("mqtt accounts: no prefix to drop")
	}
	a.mu.Lock()
	var gone []*server.Account
	for name, acc := range a.accounts {
		if strings.HasPrefix(name, prefix) {
			gone = append(gone, acc)
			delete(a.accounts, name)
		}
	}
	srv := a.srv
	a.mu.Unlock()
	if srv == nil {
		return nil
	}
	for _, acc := range gone {
		cz, err := srv.Connz(&server.ConnzOptions{Account: acc.Name, Limit: 1 << 30})
		if err == nil {
			for _, ci := range cz.Conns {
				srv.DisconnectClientByID(ci.Cid) //nolint:errcheck // gone meanwhile
			}
		}
		if acc.JetStreamEnabled() {
			if err := acc.DisableJetStream(); err != nil {
				return fmt.Errorf("mqtt account %s: stop jetstream: %w", acc.Name, err)
			}
		}
	}
	jc := srv.JetStreamConfig()
	if jc == nil {
		return nil
	}
	dirs, err := os.ReadDir(jc.StoreDir)
	if err != nil {
		return fmt.Errorf("mqtt accounts: %w", err)
	}
	for _, d := range dirs {
		if d.IsDir() && strings.HasPrefix(d.Name(), prefix) {
			if err := os.RemoveAll(filepath.Join(jc.StoreDir, d.Name())); err != nil {
				return fmt.Errorf("mqtt account %s: %w", d.Name(), err)
			}
		}
	}
	return nil
}

// listenAddr checks the address of the listener named flag and that it is free now, so that a
// taken port fails at once rather than after the server's start timeout; port 0 is -1 to the
// server (any port).
func listenAddr(flag, addr string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%s %q: %w", flag, addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%s %q: want a port from 0 to 65535", flag, addr)
	}
	if port == 0 {
		return host, -1, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", 0, fmt.Errorf("%s: %w", flag, err)
	}
	l.Close()
	return host, port, nil
}

// MQTTAddr is the address the MQTT listener is bound to (host:port, port 0 resolved);
// empty without one.
func (b *Bus) MQTTAddr() string { return b.mqttAddr }

// boundAddrs asks the started server where its MQTT and leaf node listeners are ("" for one
// not configured).
func boundAddrs(ns *server.Server, cfg Config) (mqttAddr, leafAddr string, err error) {
	v, err := ns.Varz(nil)
	if err != nil {
		return "", "", fmt.Errorf("listeners: %w", err)
	}
	if cfg.MQTT != nil {
		mqttAddr = net.JoinHostPort(v.MQTT.Host, strconv.Itoa(v.MQTT.Port))
	}
	if cfg.Leaf != nil {
		leafAddr = net.JoinHostPort(v.LeafNode.Host, strconv.Itoa(v.LeafNode.Port))
	}
	return mqttAddr, leafAddr, nil
}

// MQTTDialAddr is where a client on this host reaches the MQTT listener: its address, with a
// loopback address for one bound to every interface.
func (b *Bus) MQTTDialAddr() string {
	addr := b.MQTTAddr()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	switch ip := net.ParseIP(host); {
	case host == "" || (ip != nil && ip.IsUnspecified() && ip.To4() != nil):
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified():
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}

// MQTTOwnPassword is the password with which the hub's own MQTT client logs in as tenant
// user (into the account Account names); it changes with every start.
func (b *Bus) MQTTOwnPassword(user string) string {
	if b.mqtt == nil {
		return ""
	}
	return b.mqtt.ownPassword(user)
}

// DropMQTTAccounts disconnects the devices of every MQTT account whose name starts with
// prefix and deletes what the server stored for them.
func (b *Bus) DropMQTTAccounts(prefix string) error {
	if b.mqtt == nil {
		return nil
	}
	return b.mqtt.drop(prefix)
}

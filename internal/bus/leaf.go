package bus

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// LeafConfig turns on the embedded server's leaf node listener, where edge nodes' own
// servers connect. A node joins the hub's global account (where the hub's JetStream is),
// confined to the subjects its login grants: the hub decides what a node may do, the bus
// only applies it.
type LeafConfig struct {
	// Listen is host:port; port 0 picks a free port (see Bus.LeafAddr).
	Listen string
	// Login is what the node logging in with user and password may do ("" Solution refuses
	// it). It must answer alike, in time too, for an unknown user and a wrong password.
	Login func(user, password string) LeafGrant
	// MaxConnections bounds the nodes connected at once in all, MaxConnectionsPerSolution
	// those of one solution; beyond, a node is refused (and the refusal logged).
	MaxConnections, MaxConnectionsPerSolution int
	// Logger gets refusals; nil discards them.
	Logger *slog.Logger
	// TLS, when set, makes the listener take TLS connections only.
	TLS *tls.Config
}

// LeafGrant is what a node's leaf connection may carry. Directions are the node's: Publish is
// what the node may send to the hub, Subscribe what the hub may send to the node (the server
// turns them around on the hub's side of the connection).
type LeafGrant struct {
	// Solution is the node's tenant, for the bounds; "" refuses the login.
	Solution string
	// Publish and Subscribe are the only subjects allowed each way; empty allows none.
	Publish, Subscribe []string
}

// leafAuth decides leaf logins and counts the connected nodes.
type leafAuth struct {
	cfg LeafConfig
	log *slog.Logger

	mu    sync.Mutex
	conns map[uint64]leafConn // by the server's connection id, the nodes let in
}

type leafConn struct {
	solution string
	at       time.Time // when let in
	seen     bool      // among the server's leaf connections once
}

// leafJoinTime is how long a node let in may take to show among the server's leaf
// connections before it is taken for gone.
const leafJoinTime = 10 * time.Second

func newLeafAuth(cfg LeafConfig) *leafAuth {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &leafAuth{cfg: cfg, log: log, conns: map[uint64]leafConn{}}
}

// check logs a leaf connection in, or refuses it.
func (l *leafAuth) check(c server.ClientAuthentication, srv *server.Server) bool {
	o := c.GetOpts()
	g := l.cfg.Login(o.Username, o.Password)
	if g.Solution == "" {
		l.log.Debug("leaf login refused", "user", o.Username, "remote", remote(c))
		return false
	}
	cid, ok := leafID(c)
	if !ok || srv == nil {
		l.log.Error("leaf login: connection not identified", "user", o.Username)
		return false
	}
	// Counting and admitting under one lock: two nodes cannot both take the last place.
	l.mu.Lock()
	defer l.mu.Unlock()
	l.forgetGone(srv)
	total, mine := len(l.conns), 0
	for _, lc := range l.conns {
		if lc.solution == g.Solution {
			mine++
		}
	}
	if mine >= l.cfg.MaxConnectionsPerSolution {
		l.log.Warn("leaf connection refused: too many for the solution", "solution", g.Solution, "connections", mine, "max", l.cfg.MaxConnectionsPerSolution)
		return false
	}
	if total >= l.cfg.MaxConnections {
		l.log.Warn("leaf connection refused: too many in all", "solution", g.Solution, "connections", total, "max", l.cfg.MaxConnections)
		return false
	}
	c.RegisterUser(&server.User{
		Username: o.Username,
		Account:  srv.GlobalAccount(),
		Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: allowOnly(g.Publish)},
			Subscribe: &server.SubjectPermission{Allow: allowOnly(g.Subscribe)},
		},
	})
	l.conns[cid] = leafConn{solution: g.Solution, at: time.Now()}
	return true
}

// allowOnly is an allow list of subjects: an empty one would allow everything.
func allowOnly(subjects []string) []string {
	if len(subjects) == 0 {
		return []string{"$nothing"}
	}
	return subjects
}

// forgetGone drops the connections the server no longer has. l.mu is held.
func (l *leafAuth) forgetGone(srv *server.Server) {
	if len(l.conns) == 0 {
		return
	}
	lz, err := srv.Leafz(nil)
	if err != nil {
		return // keep counting them: a refusal too many rather than a node too many
	}
	live := make(map[uint64]bool, len(lz.Leafs))
	for _, li := range lz.Leafs {
		live[li.ID] = true
	}
	for id, lc := range l.conns {
		switch {
		case live[id]:
			lc.seen = true
			l.conns[id] = lc
		case lc.seen || time.Since(lc.at) > leafJoinTime:
			delete(l.conns, id)
		}
	}
}

// leafID is the server's id of the leaf connection c, from its name "<address> - lid:<id>".
func leafID(c server.ClientAuthentication) (uint64, bool) {
	s, ok := c.(fmt.Stringer)
	if !ok {
		return 0, false
	}
	_, id, found := strings.Cut(s.String(), " - lid")
	if !found {
		return 0, false
	}
	_, id, found = strings.Cut(id, ":")
	if !found {
		return 0, false
	}
	n, err := strconv.ParseUint(id, 10, 64)
	return n, err == nil
}

// LeafAddr is the address the leaf node listener is bound to (host:port, port 0 resolved);
// empty without one.
func (b *Bus) LeafAddr() string { return b.leafAddr }

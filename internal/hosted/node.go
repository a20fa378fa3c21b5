package hosted

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/bus"
	"github.com/switchboardhq/switchboard/internal/solution"
)

// HubNode is the hub itself as a node: always there, online while the hub runs, running lua
// services that need no device.
const HubNode = "hub"

// Bounds of nodes.
const (
	MaxNodes        = 256 // per solution
	MaxTags         = 16  // per node
	MaxReportedText = 128 // an agent version, or a reported instance's state
	// DefaultOnlineWindow is how recently a node must have reported to be online.
	DefaultOnlineWindow = 90 * time.Second
	// SignInFailures failed sign-ins of a node in SignInWindow refuse its sign-ins until the
	// window ends.
	SignInFailures = 5
	SignInWindow   = time.Minute
)

// NodeNamePattern is what a node's name and a tag must match: one segment of a topic.
var NodeNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

const nodeNameHint = "lower-case letters, digits, '_' and '-', starting with a letter or digit, at most 63"

// Errors a caller can test for.
var (
	ErrNodeNotFound = errors.New("no such node")
	// ErrSignIn is every refused sign-in alike: it does not say whether the node exists.
	ErrSignIn = errors.New("sign-in refused: no such node with that token")
	// ErrSignInLimited refuses a node's sign-ins after too many failed ones.
	ErrSignInLimited = errors.New("sign-in refused: too many failed sign-ins of this node; retry in a minute")
)

// Node is a machine of a solution running hosted services (an agent), or the hub itself.
type Node struct {
	Solution string   `json:"solution"`
	Name     string   `json:"name"`
	Tags     []string `json:"tags"`
	// Disabled nodes are assigned nothing: their instances stop.
	Disabled bool `json:"disabled"`
	// Generation counts restarts: each restarts every instance on the node.
	Generation uint64    `json:"generation"`
	CreatedAt  time.Time `json:"created_at,omitzero"`

	// Revision is the KV revision the node was read at; 0 for the hub before it changed.
	Revision uint64 `json:"-"`
	// tokenHash is the provisioning token's hash until it is exchanged; credentialHash the
	// credential's it was exchanged for. Neither is ever shown.
	tokenHash, credentialHash string
}

// Hub says whether n is the hub itself.
func (n Node) Hub() bool { return n.Name == HubNode }

// nodeRecord is a node as stored, its hashes with it.
type nodeRecord struct {
	Node
	TokenHash      string `json:"token_hash,omitempty"`
	CredentialHash string `json:"credential_hash,omitempty"`
}

func (n Node) record() []byte {
	data, _ := json.Marshal(nodeRecord{Node: n, TokenHash: n.tokenHash, CredentialHash: n.credentialHash})
	return data
}

// UnmarshalJSON reads a stored node, hashes included.
func (n *Node) UnmarshalJSON(data []byte) error {
	type plain Node
	var r struct {
		plain
		TokenHash      string `json:"token_hash"`
		CredentialHash string `json:"credential_hash"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return err
	}
	*n = Node(r.plain)
	n.tokenHash, n.credentialHash = r.TokenHash, r.CredentialHash
	return nil
}

// ReportedInstance is an instance as a node's runtime reports it.
type ReportedInstance struct {
	Name    string `json:"name"`
	Service string `json:"service"`
	Version string `json:"version"`
	State   string `json:"state"`
}

// NodeState is what a node's runtime last reported.
type NodeState struct {
	LastSeen     time.Time          `json:"last_seen,omitzero"` // absent: never
	AgentVersion string             `json:"agent_version,omitempty"`
	Instances    []ReportedInstance `json:"instances"`

	Revision uint64 `json:"-"`
}

// NodeStatus is a node with its state, as shown.
type NodeStatus struct {
	Node
	Hub    bool `json:"hub,omitempty"`
	Online bool `json:"online"`
	// Provisioning says a provisioning token waits to be exchanged; SignedIn that a credential
	// was issued.
	Provisioning bool `json:"provisioning"`
	SignedIn     bool `json:"signed_in"`
	NodeState
}

func nodeKey(sol, name string) string  { return sol + ".node." + name }
func stateKey(sol, name string) string { return sol + ".state." + name }

func checkNodeName(name string) error {
	if !NodeNamePattern.MatchString(name) {
		return &solution.FieldError{Field: "name", Reason: fmt.Sprintf("%q: want %s", name, nodeNameHint)}
	}
	return nil
}

func checkTags(tags []string) error {
	if len(tags) > MaxTags {
		return &solution.FieldError{Field: "tags", Reason: fmt.Sprintf("%d tags: at most %d", len(tags), MaxTags)}
	}
	for i, t := range tags {
		if !NodeNamePattern.MatchString(t) {
			return &solution.FieldError{Field: fmt.Sprintf("tags[%d]", i), Reason: fmt.Sprintf("%q: want %s", t, nodeNameHint)}
		}
		if slices.Index(tags, t) != i {
			return &solution.FieldError{Field: fmt.Sprintf("tags[%d]", i), Reason: fmt.Sprintf("%q is given twice", t)}
		}
	}
	return nil
}

// GetNode is sol's node name; the hub is always there.
func (s *Store) GetNode(sol, name string) (Node, bool) {
	s.mu.RLock()
	n, ok := s.nodes[sol+"."+name]
	s.mu.RUnlock()
	if !ok && name == HubNode {
		return Node{Solution: sol, Name: HubNode, Tags: []string{}}, true
	}
	return n, ok
}

// Nodes is sol's nodes by name, the hub among them.
func (s *Store) Nodes(sol string) []Node {
	s.mu.RLock()
	out := []Node{}
	for _, n := range s.nodes {
		if n.Solution == sol && n.Name != HubNode {
			out = append(out, n)
		}
	}
	s.mu.RUnlock()
	hub, _ := s.GetNode(sol, HubNode)
	out = append(out, hub)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Status is n with its state: the hub is online while it runs, another node while it reports.
func (s *Store) Status(n Node) NodeStatus {
	s.mu.RLock()
	st := s.states[n.Solution+"."+n.Name]
	s.mu.RUnlock()
	st.Revision = 0
	if st.Instances == nil {
		st.Instances = []ReportedInstance{}
	}
	out := NodeStatus{Node: n, Hub: n.Hub(), NodeState: st, Provisioning: n.tokenHash != "", SignedIn: n.credentialHash != ""}
	if n.Hub() {
		out.Online, out.LastSeen = true, s.opt.Now().UTC().Truncate(time.Millisecond)
	} else {
		out.Online = !st.LastSeen.IsZero() && s.opt.Now().Sub(st.LastSeen) <= s.opt.OnlineWindow
	}
	if out.Tags == nil {
		out.Tags = []string{}
	}
	return out
}

// newSecret is a random token with a prefix saying what it is, and its hash.
func newSecret(prefix string) (token, hash string) {
	token = prefix + rand.Text()
	return token, hashSecret(token)
}

func hashSecret(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// CreateNode registers a node of sol; token, its provisioning token, is shown this once.
func (s *Store) CreateNode(ctx context.Context, sol, name string, tags []string) (n Node, token string, err error) {
	if err := checkNodeName(name); err != nil {
		return Node{}, "", err
	}
	if name == HubNode {
		return Node{}, "", &solution.FieldError{Field: "name", Reason: `"hub" is the hub itself, always there`}
	}
	if err := checkTags(tags); err != nil {
		return Node{}, "", err
	}
	if len(s.Nodes(sol))-1 >= MaxNodes {
		return Node{}, "", &solution.FieldError{Field: "name", Reason: fmt.Sprintf("solution %s has %d nodes, the most it may have; delete one first", sol, MaxNodes)}
	}
	if tags == nil {
		tags = []string{}
	}
	token, hash := newSecret("sbp_")
	n = Node{Solution: sol, Name: name, Tags: tags, CreatedAt: s.opt.Now().UTC().Truncate(time.Millisecond), tokenHash: hash}
	data := n.record()
	rev, err := s.kv.Create(ctx, nodeKey(sol, name), data)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return Node{}, "", &solution.FieldError{Field: "name", Reason: fmt.Sprintf("%q: a node of that name exists", name)}
	}
	if err != nil {
		return Node{}, "", fmt.Errorf("create node %s: %w", name, err)
	}
	s.apply(bus.Put{K: nodeKey(sol, name), V: data, Rev: rev})
	n.Revision = rev
	return n, token, nil
}

// NodeChange is what UpdateNode changes: what is nil stays.
type NodeChange struct {
	Tags     *[]string
	Disabled *bool
}

// UpdateNode changes sol's node name's tags or whether it is disabled. The hub takes no tags.
func (s *Store) UpdateNode(ctx context.Context, sol, name string, c NodeChange) (Node, error) {
	if c.Tags != nil {
		if err := checkTags(*c.Tags); err != nil {
			return Node{}, err
		}
		if name == HubNode && len(*c.Tags) > 0 {
			return Node{}, &solution.FieldError{Field: "tags", Reason: "the hub takes no tags: assign lua services to it by its name, hub"}
		}
	}
	return s.changeNode(ctx, sol, name, func(n *Node) {
		if c.Tags != nil {
			n.Tags = append([]string{}, *c.Tags...)
		}
		if c.Disabled != nil {
			n.Disabled = *c.Disabled
		}
	})
}

// RestartNode bumps the node's generation: its runtime restarts every instance on it.
func (s *Store) RestartNode(ctx context.Context, sol, name string) (Node, error) {
	return s.changeNode(ctx, sol, name, func(n *Node) { n.Generation++ })
}

// NewToken issues a new provisioning token of sol's node name, shown this once, and revokes
// its credential: the node signs in again with the token.
func (s *Store) NewToken(ctx context.Context, sol, name string) (Node, string, error) {
	if name == HubNode {
		return Node{}, "", &solution.FieldError{Field: "name", Reason: "the hub signs in to no one: it has no token"}
	}
	token, hash := newSecret("sbp_")
	n, err := s.changeNode(ctx, sol, name, func(n *Node) { n.tokenHash, n.credentialHash = hash, "" })
	return n, token, err
}

// changeNode applies change to the node's newest record, again when another write came first.
func (s *Store) changeNode(ctx context.Context, sol, name string, change func(*Node)) (Node, error) {
	for range 16 {
		n, ok := s.GetNode(sol, name)
		if !ok {
			s.refreshNode(ctx, sol, name)
			if n, ok = s.GetNode(sol, name); !ok {
				return Node{}, fmt.Errorf("node %s: %w", name, ErrNodeNotFound)
			}
		}
		change(&n)
		data := n.record()
		var rev uint64
		var err error
		if n.Revision == 0 { // the hub, first changed
			rev, err = s.kv.Create(ctx, nodeKey(sol, name), data)
		} else {
			rev, err = s.kv.Update(ctx, nodeKey(sol, name), data, n.Revision)
		}
		if errors.Is(err, jetstream.ErrKeyExists) {
			s.refreshNode(ctx, sol, name)
			continue
		}
		if err != nil {
			return Node{}, fmt.Errorf("update node %s: %w", name, err)
		}
		s.apply(bus.Put{K: nodeKey(sol, name), V: data, Rev: rev})
		n.Revision = rev
		return n, nil
	}
	return Node{}, fmt.Errorf("node %s: %w", name, ErrConflict)
}

func (s *Store) refreshNode(ctx context.Context, sol, name string) {
	if e, err := s.kv.Get(ctx, nodeKey(sol, name)); err == nil {
		s.apply(e)
	}
}

// DeleteNode removes sol's node name and its state; a node a flow names is kept (an
// *InUseError naming the flows).
func (s *Store) DeleteNode(ctx context.Context, sol, name string) error {
	if name == HubNode {
		return &solution.FieldError{Field: "name", Reason: "the hub is always there: disable it to stop its instances"}
	}
	n, ok := s.GetNode(sol, name)
	if !ok {
		return fmt.Errorf("node %s: %w", name, ErrNodeNotFound)
	}
	if err := s.deleteRecord(ctx, sol, "node "+name, nodeKey(sol, name), n.Revision, func(in Instance) bool { return in.Node == name }); err != nil {
		return err
	}
	if err := s.kv.Purge(ctx, stateKey(sol, name)); err != nil {
		return fmt.Errorf("delete state of node %s: %w", name, err)
	}
	s.mu.Lock()
	delete(s.states, sol+"."+name)
	s.mu.Unlock()
	return nil
}

// ReportState records what sol's node name's runtime runs now; the node is online while it
// reports within the online window.
func (s *Store) ReportState(ctx context.Context, sol, name string, st NodeState) error {
	if _, ok := s.GetNode(sol, name); !ok {
		return fmt.Errorf("node %s: %w", name, ErrNodeNotFound)
	}
	if len(st.Instances) > MaxInstancesPerSolution {
		return &solution.FieldError{Field: "instances", Reason: fmt.Sprintf("%d instances: at most %d", len(st.Instances), MaxInstancesPerSolution)}
	}
	texts := []string{st.AgentVersion}
	for _, in := range st.Instances {
		texts = append(texts, in.Name, in.Service, in.Version, in.State)
	}
	for _, t := range texts {
		if len(t) > MaxReportedText || !utf8.ValidString(t) {
			return &solution.FieldError{Field: "instances", Reason: fmt.Sprintf("a reported text of %d bytes: at most %d of UTF-8", len(t), MaxReportedText)}
		}
	}
	st.LastSeen = s.opt.Now().UTC().Truncate(time.Millisecond)
	data, _ := json.Marshal(st)
	rev, err := s.kv.Put(ctx, stateKey(sol, name), data)
	if err != nil {
		return fmt.Errorf("report state of node %s: %w", name, err)
	}
	s.apply(bus.Put{K: stateKey(sol, name), V: data, Rev: rev})
	return nil
}

// SignIn exchanges sol's node name's provisioning token, once, for a credential, shown this
// once. Every refusal is ErrSignIn alike, whether the node exists or not; after
// SignInFailures failures in SignInWindow a node's sign-ins are ErrSignInLimited.
func (s *Store) SignIn(ctx context.Context, sol, name, token string) (string, error) {
	key := sol + "." + name
	now := s.opt.Now()
	if s.signIns.blocked(key, now) {
		return "", ErrSignInLimited
	}
	n, ok := s.GetNode(sol, name)
	// Compared even when there is no such node, so the time taken says nothing either.
	if !matches(n.tokenHash, token) || !ok || n.Hub() {
		s.signIns.fail(key, now)
		return "", ErrSignIn
	}
	credential, hash := newSecret("sbc_")
	n.tokenHash, n.credentialHash = "", hash
	data := n.record()
	rev, err := s.kv.Update(ctx, nodeKey(sol, name), data, n.Revision)
	if errors.Is(err, jetstream.ErrKeyExists) {
		// Another sign-in with the token, or a change of the node, came first.
		s.signIns.fail(key, now)
		s.refreshNode(ctx, sol, name)
		return "", ErrSignIn
	}
	if err != nil {
		return "", fmt.Errorf("sign in node %s: %w", name, err)
	}
	s.apply(bus.Put{K: nodeKey(sol, name), V: data, Rev: rev})
	return credential, nil
}

// Authenticate says whether credential is sol's node name's; failures count as failed
// sign-ins.
func (s *Store) Authenticate(sol, name, credential string) bool {
	key := sol + "." + name
	now := s.opt.Now()
	if s.signIns.blocked(key, now) {
		return false
	}
	n, ok := s.GetNode(sol, name)
	if !matches(n.credentialHash, credential) || !ok || n.Hub() {
		s.signIns.fail(key, now)
		return false
	}
	return true
}

// matches compares token's hash with hash in constant time; an empty hash matches nothing,
// after as long a comparison.
func matches(hash, token string) bool {
	got := hashSecret(token)
	set := hash != ""
	if !set {
		hash = strings.Repeat("0", len(got))
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(hash)) == 1 && set
}

// failLimiter counts failed sign-ins per node in a fixed number of slots: memory stays bounded
// however many names are tried, and names sharing a slot share its count.
type failLimiter struct {
	mu    sync.Mutex
	seed  maphash.Seed
	slots [4096]struct {
		start time.Time
		n     int
	}
}

func (l *failLimiter) init() { l.seed = maphash.MakeSeed() }

func (l *failLimiter) slot(key string) int {
	return int(maphash.String(l.seed, key) % uint64(len(l.slots)))
}

func (l *failLimiter) blocked(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	sl := &l.slots[l.slot(key)]
	return sl.n >= SignInFailures && now.Sub(sl.start) < SignInWindow
}

func (l *failLimiter) fail(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	sl := &l.slots[l.slot(key)]
	if now.Sub(sl.start) >= SignInWindow {
		sl.start, sl.n = now, 0
	}
	sl.n++
}

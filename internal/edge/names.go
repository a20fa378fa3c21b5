package edge

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Names of what a node and the hub keep for it.
const (
	// OutboxStream is the node's stream of what it produced for the hub.
	OutboxStream = "OUTBOX"
	// AssignBucket is the node's KV bucket the hub writes into (the node's assignment).
	AssignBucket = "ASSIGN"
	// domainHashLen is how many hex digits of the hash a domain carries: 64 bits.
	domainHashLen = 16
)

// Bounds on what a node publishes.
const (
	maxSuffixLen = 200
	maxMsgIDLen  = 128
)

// Domain is the JetStream domain of node of solution: "n" and 16 hex digits of a hash of
// both, so that it is short, made of the characters a domain (and a subject token) allows,
// and the same node name in two solutions gets two domains.
func Domain(solution, node string) string {
	h := sha256.Sum256([]byte(solution + "\x00" + node))
	return "n" + hex.EncodeToString(h[:])[:domainHashLen]
}

// checkDomain refuses anything Domain cannot have made: the domain is put into subjects.
func checkDomain(d string) error {
	if len(d) != 1+domainHashLen || d[0] != 'n' {
		return fmt.Errorf("domain %q: want one made by Domain", d)
	}
	if _, err := hex.DecodeString(d[1:]); err != nil || strings.ToLower(d) != d {
		return fmt.Errorf("domain %q: want one made by Domain", d)
	}
	return nil
}

// apiPrefix is the prefix of the JetStream API of domain d, as another domain reaches it.
func apiPrefix(d string) string { return "$JS." + d + ".API" }

// LostSubject is the suffix of the node's own message saying how many messages its full
// outbox refused before it (a Delivery of it has Lost set and nothing else to handle).
const LostSubject = "lost"

// outboxSubject is the subject the node of domain d stores suffix under.
func outboxSubject(d, suffix string) string { return "edge." + d + "." + suffix }

// linkPrefix starts the subjects the node of domain d sends to the hub: deliveries of its
// outbox to the hub's stream and replies to the hub's requests.
func linkPrefix(d string) string { return "$SB.edge." + d }

// Grant is what the leaf connection of the node of domain d may carry, from the node's side:
// Publish what it may send to the hub, Subscribe what the hub may send to it. Nothing else
// crosses, either way.
func Grant(d string) (publish, subscribe []string, err error) {
	if err := checkDomain(d); err != nil {
		return nil, nil, err
	}
	publish = []string{
		linkPrefix(d) + ".>", // its outbox's deliveries, replies on the hub's link inbox
		"$JSC.R." + d + ".>", // replies to the hub stream's requests to its domain
	}
	subscribe = []string{
		apiPrefix(d) + ".>",   // the hub's requests to its JetStream (taking its outbox, KV puts)
		"$JS.ACK." + d + ".>", // the hub's acknowledgements of its outbox's messages
	}
	return publish, subscribe, nil
}

// checkSuffix checks the subject suffix a node publishes under: tokens of a subject, no
// wildcards, bounded.
func checkSuffix(s string) error {
	if s == "" {
		return errors.New("subject: empty")
	}
	if len(s) > maxSuffixLen {
		return fmt.Errorf("subject: %d bytes, at most %d", len(s), maxSuffixLen)
	}
	for _, tok := range strings.Split(s, ".") {
		if tok == "" {
			return fmt.Errorf("subject %q: empty token", s)
		}
		if tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n*>") {
			return fmt.Errorf("subject %q: wildcards and white space are not allowed", s)
		}
	}
	return nil
}

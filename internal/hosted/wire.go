package hosted

import "time"

// What crosses between the hub and an agent, over the node's link (internal/edge): the hub
// writes the node's assignment into the node's bucket, the node sends what its instances
// produce through its outbox.

// Keys of the node's assignment bucket.
const (
	// AssignmentKey holds the node's NodeAssignment.
	AssignmentKey = "assignment"
	// CodeKeyPrefix + a code's SHA-256 holds that code.
	CodeKeyPrefix = "code."
)

// NodeAssignment is what a node is to run, as the hub last wrote it.
type NodeAssignment struct {
	Solution   string   `json:"solution"`
	Node       string   `json:"node"`
	Tags       []string `json:"tags"`
	Disabled   bool     `json:"disabled"`
	Generation uint64   `json:"generation"`
	// Instances are the node's; each one's code is under CodeKeyPrefix + its CodeSHA256.
	Instances []NodeInstance `json:"instances"`
}

// NodeInstance is an assigned instance as a node receives it: with its security values.
type NodeInstance struct {
	Flow       string            `json:"flow"`
	Instance   string            `json:"instance"`
	Service    string            `json:"service"`
	Kind       string            `json:"kind"`
	Version    string            `json:"version"`
	CodeSHA256 string            `json:"code_sha256"`
	Static     map[string]any    `json:"static"`
	Security   map[string]string `json:"security"`
	Upstream   string            `json:"upstream,omitempty"`
	Hash       string            `json:"hash"`
}

// Outbox subjects a node publishes under (below its own prefix), one per kind of message.
const (
	UpMessage = "message" // SubmitMessage
	UpLog     = "log"     // Debug, Warning, and the orchestrator's own lines
	UpAlert   = "alert"   // ThrowError
	UpState   = "state"   // what the node runs
)

// Up is a message of a node's instance, or of the node itself (Instance "").
type Up struct {
	Time     time.Time `json:"time"`
	Instance string    `json:"instance,omitempty"`
	Service  string    `json:"service,omitempty"`
	Version  string    `json:"version,omitempty"`
	// Topic is where a message goes: the instance's upstream topic when it was sent.
	Topic string `json:"topic,omitempty"`
	// Level of a log line: debug, info, warn or error.
	Level            string `json:"level,omitempty"`
	Message          any    `json:"message,omitempty"`
	FaultCode        string `json:"fault_code,omitempty"`
	FaultDescription string `json:"fault_description,omitempty"`
	// State is a node's report (UpState).
	State *NodeState `json:"state,omitempty"`
}

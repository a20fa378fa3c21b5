package bus

import "github.com/nats-io/nats.go/jetstream"

// Put is a KV put written by this instance, for applying it to a watched view before the
// watch brings it back (the view then skips the watch's copy by its revision).
type Put struct {
	jetstream.KeyValueEntry
	K   string
	V   []byte
	Rev uint64
}

// Key, Value, Revision and Operation are the entry as jetstream.KeyValueEntry gives them.
func (e Put) Key() string                     { return e.K }
func (e Put) Value() []byte                   { return e.V }
func (e Put) Revision() uint64                { return e.Rev }
func (e Put) Operation() jetstream.KeyValueOp { return jetstream.KeyValuePut }

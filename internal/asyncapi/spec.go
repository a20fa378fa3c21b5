package asyncapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Spec is what Switchboard takes from an AsyncAPI 2.x document.
type Spec struct {
	AsyncAPI           string    // the version, "2.6.0"
	Title              string    // info.title
	Version            string    // info.version: the version of the application's API
	DefaultContentType string    // defaultContentType, "" if not given
	Channels           []Channel // in the order of the document
}

// Channel is one channel of a document and the messages of its operations.
type Channel struct {
	// Name is the channel's key as written, "user/signedup" or
	// "smartylighting/streetlights/1/0/event/{streetlightId}/lighting/measured".
	Name        string
	Description string
	// Parameters are the names of the {parameters} of Name, in order.
	Parameters []string
	// Messages are the messages of the publish operation, then of the subscribe one; an
	// operation whose message is a oneOf gives each alternative.
	Messages []Message
}

// Operation is the kind of operation a message belongs to. AsyncAPI 2 describes an
// application as its clients see it: "publish" means other applications may send messages
// to the application on that channel, which the application receives; "subscribe" means
// other applications may receive messages from that channel, which the application sends.
// The events an application emits are thus those of its subscribe operations (AsyncAPI 2.x,
// "Channel Item Object"; AsyncAPI 3 replaced the two with explicit send and receive).
type Operation string

const (
	Publish   Operation = "publish"   // the application receives these messages
	Subscribe Operation = "subscribe" // the application sends these messages
)

// Message is a message an operation of a channel carries.
type Message struct {
	Operation Operation
	// Name is the message's name, else its messageId, else its key under
	// components/messages when it was referred to there; "" when none of these is given.
	Name  string
	Title string
	// ContentType is the message's contentType, else the document's defaultContentType.
	ContentType string
	// SchemaFormat is the format of Payload: the message's schemaFormat, else the
	// AsyncAPI format of the document's version, as the specification defaults it.
	SchemaFormat string
	// Payload is the payload's schema as JSON, nil when the message gives none. A JSON
	// Schema (see CompilePayload) stands alone: local references are written out, and a
	// schema that refers to itself sits under "definitions".
	Payload json.RawMessage
}

// SentByApplication reports whether the application the document describes sends this
// message (a subscribe operation), rather than receiving it.
func (m Message) SentByApplication() bool { return m.Operation == Subscribe }

// Parse reads an AsyncAPI 2.x document, JSON or YAML, checks it against the official JSON
// Schema of its version and the rules listed in rules.go, and gives its channels and
// messages. An invalid document gives a *ValidationError; one over a bound an error that
// wraps ErrLimit.
func Parse(data []byte) (*Spec, error) {
	v, root, err := decode(data)
	if err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, &ValidationError{Problems: []Problem{{Message: "an AsyncAPI document is an object"}}}
	}
	version, err := checkVersion(obj["asyncapi"])
	if err != nil {
		return nil, err
	}
	if chans, ok := obj["channels"].(map[string]any); ok && len(chans) > MaxChannels {
		return nil, fmt.Errorf("%w: %d channels, more than %d", ErrLimit, len(chans), MaxChannels)
	}
	var ps problems
	if err := validateDoc(obj, version, &ps); err != nil {
		return nil, err
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	d := &document{root: obj, budget: MaxValues}
	checkRules(d, &ps)
	if err := ps.err(); err != nil {
		return nil, err
	}
	spec := &Spec{AsyncAPI: version}
	info, _ := obj["info"].(map[string]any)
	spec.Title, _ = info["title"].(string)
	spec.Version, _ = info["version"].(string)
	spec.DefaultContentType, _ = obj["defaultContentType"].(string)
	messages := 0
	for _, name := range channelOrder(root) {
		ch, err := d.channel(spec, name, &messages)
		if errors.Is(err, ErrLimit) {
			return nil, err
		}
		if err != nil {
			ps.add([]string{"channels", name}, "%v", err)
			continue
		}
		spec.Channels = append(spec.Channels, ch)
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	return spec, nil
}

func checkVersion(v any) (string, error) {
	version, _ := v.(string)
	if slices.Contains(Versions, version) {
		return version, nil
	}
	msg := fmt.Sprintf("AsyncAPI version %q is not supported; supported: %s", version, strings.Join(Versions, ", "))
	if strings.HasPrefix(version, "3.") {
		msg = fmt.Sprintf("AsyncAPI %s documents are not supported, only 2.x (%s)", version, strings.Join(Versions, ", "))
	}
	return "", &ValidationError{Problems: []Problem{{Pointer: "/asyncapi", Message: msg}}}
}

// channelOrder is the keys of the document's channels in the order written.
func channelOrder(root *yaml.Node) []string {
	n := root
	for n.Kind == yaml.DocumentNode || n.Kind == yaml.AliasNode {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		} else {
			n = n.Content[0]
		}
	}
	chans := mappingValue(n, "channels")
	if chans == nil {
		return nil
	}
	var keys []string
	for i := 0; i+1 < len(chans.Content); i += 2 {
		keys = append(keys, chans.Content[i].Value)
	}
	return keys
}

func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			v := n.Content[i+1]
			for v.Kind == yaml.AliasNode {
				v = v.Alias
			}
			return v
		}
	}
	return nil
}

// channel builds the channel of the document named name; messages counts the messages
// of all channels so far.
func (d *document) channel(spec *Spec, name string, messages *int) (Channel, error) {
	ch := Channel{Name: name, Parameters: channelParameters(name)}
	at := []string{"channels", name}
	item, _, err := d.resolve(d.root["channels"].(map[string]any)[name], at)
	if err != nil {
		return ch, err
	}
	obj, _ := item.(map[string]any)
	ch.Description, _ = obj["description"].(string)
	for _, op := range []Operation{Publish, Subscribe} {
		o, ok := obj[string(op)].(map[string]any)
		if !ok {
			continue
		}
		msgs, err := d.operationMessages(spec, op, o, append(at, string(op)))
		if err != nil {
			return ch, fmt.Errorf("%s: %w", op, err)
		}
		if *messages += len(msgs); *messages > MaxMessages {
			return ch, fmt.Errorf("%w: more than %d messages", ErrLimit, MaxMessages)
		}
		ch.Messages = append(ch.Messages, msgs...)
	}
	return ch, nil
}

// operationMessages are the messages of an operation: its message, or each of its oneOf.
func (d *document) operationMessages(spec *Spec, op Operation, o map[string]any, at []string) ([]Message, error) {
	raw, ok := o["message"]
	if !ok {
		return nil, nil
	}
	v, path, err := d.resolve(raw, append(at, "message"))
	if err != nil {
		return nil, err
	}
	obj, _ := v.(map[string]any)
	alts, ok := obj["oneOf"].([]any)
	if !ok {
		m, err := d.message(spec, op, v, path)
		if err != nil {
			return nil, err
		}
		return []Message{m}, nil
	}
	if len(alts) > MaxMessages {
		return nil, fmt.Errorf("%w: more than %d messages", ErrLimit, MaxMessages)
	}
	out := make([]Message, 0, len(alts))
	for i, alt := range alts {
		mv, mpath, err := d.resolve(alt, append(path, "oneOf", fmt.Sprint(i)))
		if err != nil {
			return nil, fmt.Errorf("oneOf %d: %w", i, err)
		}
		m, err := d.message(spec, op, mv, mpath)
		if err != nil {
			return nil, fmt.Errorf("oneOf %d: %w", i, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// message builds a Message from a Message Object at path. Its traits apply as AsyncAPI 2
// says, and as @asyncapi/parser applies them: each trait in turn overrides what it gives.
func (d *document) message(spec *Spec, op Operation, v any, path []string) (Message, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return Message{}, errors.New("a message is an object")
	}
	field := func(key string) string {
		s, _ := obj[key].(string)
		traits, _ := obj["traits"].([]any)
		for _, t := range traits {
			if tv, _, err := d.resolve(t, nil); err == nil {
				tm, _ := tv.(map[string]any)
				if ts, ok := tm[key].(string); ok {
					s = ts
				}
			}
		}
		return s
	}
	m := Message{Operation: op, Name: field("name"), Title: field("title"), ContentType: field("contentType"), SchemaFormat: field("schemaFormat")}
	if m.Name == "" {
		m.Name = field("messageId")
	}
	if m.Name == "" && len(path) == 3 && path[0] == "components" && path[1] == "messages" {
		m.Name = path[2]
	}
	if m.ContentType == "" {
		m.ContentType = spec.DefaultContentType
	}
	if m.SchemaFormat == "" {
		m.SchemaFormat = "application/vnd.aai.asyncapi;version=" + spec.AsyncAPI
	}
	payload, ok := obj["payload"]
	if !ok {
		return m, nil
	}
	var err error
	if jsonSchemaFormat(m.SchemaFormat) {
		payload, err = d.inlineSchema(payload)
	} else {
		// Another format's schema (Avro, RAML) is kept as written, found if referred to.
		payload, _, err = d.resolve(payload, nil)
	}
	if err != nil {
		return m, fmt.Errorf("payload: %w", err)
	}
	if m.Payload, err = json.Marshal(payload); err != nil {
		return m, fmt.Errorf("payload: %w", err)
	}
	return m, nil
}

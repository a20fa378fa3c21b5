package asyncapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Bounds on a document, checked before anything is built from it.
const (
	// MaxDocumentBytes bounds a document as sent, JSON or YAML.
	MaxDocumentBytes = 4 << 20
	// MaxDepth bounds how deeply objects and arrays nest in a document (a payload schema
	// of some twenty levels of nested objects fits).
	MaxDepth = 64
	// MaxValues bounds the values a document holds once YAML aliases and local $refs in
	// payloads are expanded: a small document that expands to millions (billion laughs, a
	// chain of schemas each referring twice to the next) is refused, not built.
	MaxValues = 200_000
	// MaxChannels and MaxMessages bound the channels of a document and the messages of all
	// its operations (oneOf alternatives counted one by one).
	MaxChannels = 1000
	MaxMessages = 1000
)

// ErrLimit is wrapped by the error of a document over one of the bounds above.
var ErrLimit = errors.New("asyncapi: document over a limit")

// decode reads a JSON or YAML document (JSON is read as YAML 1.2, which it is) into plain
// values: map[string]any, []any, string, json.Number, bool and nil. The node tree keeps the
// order of channels, which a map loses.
func decode(data []byte) (any, *yaml.Node, error) {
	if len(data) > MaxDocumentBytes {
		return nil, nil, fmt.Errorf("%w: document is %d bytes, more than %d", ErrLimit, len(data), MaxDocumentBytes)
	}
	// The YAML parser recurses once a level; a coarse count of the nesting comes first, so
	// that a document of nothing but brackets or "- - - -" is refused before it is parsed.
	if d := scanDepth(data, 2*MaxDepth); d > 2*MaxDepth {
		return nil, nil, fmt.Errorf("%w: document nests more than %d levels deep", ErrLimit, MaxDepth)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, errors.New("asyncapi: document is empty")
		}
		return nil, nil, fmt.Errorf("asyncapi: document is neither JSON nor YAML: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, nil, errors.New("asyncapi: document holds more than one YAML document")
	}
	c := converter{budget: MaxValues}
	v, err := c.value(&root, nil)
	if err != nil {
		return nil, nil, err
	}
	return v, &root, nil
}

// converter turns a YAML node tree into plain values, expanding aliases within budget.
type converter struct {
	budget int
}

func (c *converter) value(n *yaml.Node, path []string) (any, error) {
	if len(path) > MaxDepth {
		return nil, fmt.Errorf("%w: %s nests more than %d levels deep", ErrLimit, pointer(path[:8])+"/…", MaxDepth)
	}
	if c.budget--; c.budget < 0 {
		return nil, fmt.Errorf("%w: document expands to more than %d values (YAML aliases?)", ErrLimit, MaxValues)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, errors.New("asyncapi: document is empty")
		}
		c.budget++
		return c.value(n.Content[0], path)
	case yaml.AliasNode:
		c.budget++
		return c.value(n.Alias, path)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for i, e := range n.Content {
			v, err := c.value(e, append(path, strconv.Itoa(i)))
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		return c.mapping(n, path)
	case yaml.ScalarNode:
		return scalar(n, path)
	}
	return nil, invalidAt(path, "unexpected YAML node")
}

func (c *converter) mapping(n *yaml.Node, path []string) (any, error) {
	out := make(map[string]any, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		for k.Kind == yaml.AliasNode {
			k = k.Alias
		}
		if k.Kind != yaml.ScalarNode {
			return nil, invalidAt(path, "a key must be a string, not a YAML %s", kindName(k.Kind))
		}
		if k.ShortTag() == "!!merge" {
			return nil, invalidAt(path, "YAML merge keys (<<) are not supported")
		}
		if _, dup := out[k.Value]; dup {
			return nil, invalidAt(append(path, k.Value), "duplicate key %q", k.Value)
		}
		v, err := c.value(n.Content[i+1], append(path, k.Value))
		if err != nil {
			return nil, err
		}
		out[k.Value] = v
	}
	return out, nil
}

// scalar is a YAML scalar as a JSON value: numbers as json.Number, as
// jsonschema.UnmarshalJSON gives them, so that large integers keep their digits.
func scalar(n *yaml.Node, path []string) (any, error) {
	switch n.ShortTag() {
	case "!!str", "!!binary", "!!timestamp":
		// A timestamp stays the text it was written as: JSON has no dates.
		return n.Value, nil
	case "!!null":
		return nil, nil
	case "!!bool":
		b, err := strconv.ParseBool(strings.ToLower(n.Value))
		if err != nil {
			return nil, invalidAt(path, "%q is not a boolean", n.Value)
		}
		return b, nil
	case "!!int":
		i, ok := new(big.Int).SetString(strings.ReplaceAll(n.Value, "_", ""), 0)
		if !ok {
			return nil, invalidAt(path, "%q is not an integer", n.Value)
		}
		return json.Number(i.String()), nil
	case "!!float":
		f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, invalidAt(path, "%q is not a JSON number", n.Value)
		}
		return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), nil
	}
	return nil, invalidAt(path, "YAML tag %s is not supported", n.Tag)
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.SequenceNode:
		return "sequence"
	case yaml.MappingNode:
		return "mapping"
	}
	return "node"
}

package asyncapi

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// billionLaughs is the YAML form of the attack: nine levels of aliases, each ten of the one
// before, 10^9 strings once expanded, from under 1 KB.
func billionLaughs() string {
	var b strings.Builder
	b.WriteString("asyncapi: 2.6.0\ninfo: {title: T, version: '1'}\nchannels: {}\nx-lol0: &lol0 lol\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "x-lol%d: &lol%d [", i, i)
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*lol%d", i-1)
		}
		b.WriteString("]\n")
	}
	return b.String()
}

// refBomb is the same with $refs: each schema of a payload refers twice to the next.
func refBomb() string {
	var b strings.Builder
	b.WriteString("asyncapi: 2.6.0\ninfo: {title: T, version: '1'}\nchannels:\n  a:\n    subscribe:\n      message:\n        payload: {$ref: '#/components/schemas/s0'}\ncomponents:\n  schemas:\n")
	for i := range 40 {
		fmt.Fprintf(&b, "    s%d: {type: object, properties: {a: {$ref: '#/components/schemas/s%d'}, b: {$ref: '#/components/schemas/s%d'}}}\n", i, i+1, i+1)
	}
	b.WriteString("    s40: {type: string}\n")
	return b.String()
}

func channels(n int, messagesEach int) string {
	var b strings.Builder
	b.WriteString("asyncapi: 2.6.0\ninfo: {title: T, version: '1'}\nchannels:\n")
	for i := range n {
		fmt.Fprintf(&b, "  c%d:\n    subscribe:\n      message:\n        oneOf:\n", i)
		for range messagesEach {
			b.WriteString("          - payload: {type: string}\n")
		}
	}
	return b.String()
}

func TestParseLimits(t *testing.T) {
	tests := []struct {
		name string
		doc  string
	}{
		{"too large", "asyncapi: 2.6.0\nx-pad: '" + strings.Repeat("a", MaxDocumentBytes) + "'\n"},
		{"deep flow", strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000)},
		{"deep json", `{"asyncapi": "2.6.0", "x-a": ` + strings.Repeat(`{"a": `, 1000) + "1" + strings.Repeat("}", 1000) + "}"},
		{"deep block", deepBlock(200)},
		{"deep compact sequence", strings.Repeat("- ", 100_000) + "x\n"},
		{"deep past the guard", "x-a: " + strings.Repeat("[", MaxDepth+5) + strings.Repeat("]", MaxDepth+5) + "\n"},
		{"billion laughs", billionLaughs()},
		{"ref bomb", refBomb()},
		{"channels", channels(MaxChannels+1, 1)},
		{"messages", channels(2, MaxMessages/2+1)},
		{"oneOf", channels(1, MaxMessages+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			if !errors.Is(err, ErrLimit) {
				t.Fatalf("error %v, want one of ErrLimit", err)
			}
		})
	}
}

// deepBlock nests n block mappings, each indented one space more.
func deepBlock(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%sk%d:\n", strings.Repeat(" ", i), i)
	}
	return b.String()
}

func TestParseWithinLimits(t *testing.T) {
	// Aliases are followed, and a payload nested within MaxDepth is fine.
	doc := `asyncapi: 2.6.0
info: {title: T, version: '1'}
channels:
  a:
    subscribe:
      message:
        payload: &p {type: object, properties: {x: ` + strings.Repeat("{type: object, properties: {x: ", 20) + "{type: string}" + strings.Repeat("}}", 20) + `}}
  b:
    subscribe:
      message:
        payload: *p
`
	spec, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if string(spec.Channels[0].Messages[0].Payload) != string(spec.Channels[1].Messages[0].Payload) {
		t.Error("the alias gave another payload")
	}
	if _, err := Parse([]byte(channels(MaxChannels, 1))); err != nil {
		t.Errorf("%d channels: %v", MaxChannels, err)
	}
}

func TestScanDepth(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want int
	}{
		{"flat", "a: 1\nb: 2\n", 1},
		{"block", "a:\n  b:\n    c: 1\n", 3},
		{"flow", `{"a": [{"b": []}]}`, 5}, // the line counts a level too
		{"compact sequence", "- - - x\n", 4},
		{"brackets in quotes", "a: '[[[['\nb: \"{{{{\\\"[[\"\n", 1},
		{"apostrophe in plain text", "a: it's [x]\n", 2},
		{"comment", "a: 1 # [[[[\n", 1},
		{"block scalar", "a: |\n  text\n      indented [[[[\n  more\nb: 1\n", 1},
		{"block scalar with indicator", "a: >-\n    x\n        y\nb: 1\n", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := scanDepth([]byte(tt.doc), 100); got != tt.want {
				t.Errorf("scanDepth = %d, want %d", got, tt.want)
			}
		})
	}
}

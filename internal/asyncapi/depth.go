package asyncapi

import "bytes"

// scanDepth estimates, without parsing, how deeply a JSON or YAML document nests, and stops
// once the estimate passes limit. It counts open flow brackets ([ and {) outside quoted
// text, plus the block levels of YAML: one a deeper indentation, one a "- " or "? " that
// opens a line. It may count a little more than the parser will (brackets in plain text, an
// indented line of a block scalar's text), never much less, which is all a guard before the
// parser needs; the exact depth is checked on the parsed tree.
func scanDepth(data []byte, limit int) int {
	var (
		indents     []int // indentations of the open block levels
		flow        int   // open flow brackets
		quote       byte  // the quote of the quoted text we are in, or 0
		blockScalar = -1  // the indentation of the line that opened a block scalar, or -1
		maxDepth    int
	)
	for line := range bytes.Lines(data) {
		line = bytes.TrimRight(line, "\r\n")
		indent := len(line) - len(bytes.TrimLeft(line, " "))
		rest := line[indent:]
		lineIndent := indent
		if quote == 0 && flow == 0 {
			if blockScalar >= 0 && (len(bytes.TrimSpace(rest)) == 0 || indent > blockScalar) {
				continue
			}
			blockScalar = -1
			if len(bytes.TrimSpace(rest)) == 0 || rest[0] == '#' {
				continue
			}
			for len(indents) > 0 && indents[len(indents)-1] >= indent {
				indents = indents[:len(indents)-1]
			}
			indents = append(indents, indent)
			// "- - - x" opens a level with each indicator, on one line.
			for len(rest) >= 2 && (rest[0] == '-' || rest[0] == '?') && rest[1] == ' ' {
				indent += 2
				indents = append(indents, indent)
				rest = bytes.TrimLeft(rest[2:], " ")
			}
		}
		prev := byte(' ')
		last := byte(0) // the last byte outside quotes and comments
		for i := 0; i < len(rest); i++ {
			b := rest[i]
			switch {
			case quote == '"' && b == '\\':
				i++
			case quote != 0:
				if b == quote {
					quote = 0
				}
			case (b == '"' || b == '\'') && startsToken(prev):
				quote = b
			case b == '#' && (prev == ' ' || prev == '\t'):
				i = len(rest)
			case b == '[' || b == '{':
				flow++
				last = b
			case b == ']' || b == '}':
				if flow > 0 {
					flow--
				}
				last = b
			case b != ' ' && b != '\t':
				last = b
			}
			prev = b
			if d := len(indents) + flow; d > maxDepth {
				maxDepth = d
				if maxDepth > limit {
					return maxDepth
				}
			}
		}
		if quote == 0 && flow == 0 && (last == '|' || last == '>' || blockIndicator(rest)) {
			blockScalar = lineIndent
		}
		if d := len(indents) + flow; d > maxDepth {
			maxDepth = d
		}
		if maxDepth > limit {
			return maxDepth
		}
	}
	return maxDepth
}

// startsToken reports whether a quote after b opens quoted text: at the start of a value,
// not inside a plain one like "it's".
func startsToken(b byte) bool {
	switch b {
	case ' ', '\t', '[', '{', ',', ':', '-', '?':
		return true
	}
	return false
}

// blockIndicator reports whether a line ends in a block scalar header with indicators,
// like "description: |-" or "text: >2".
func blockIndicator(line []byte) bool {
	line = bytes.TrimRight(line, " \t")
	i := len(line)
	for i > 0 && (line[i-1] == '+' || line[i-1] == '-' || line[i-1] >= '1' && line[i-1] <= '9') {
		i--
	}
	return i < len(line) && i > 0 && (line[i-1] == '|' || line[i-1] == '>')
}

package keystore

// globMatch reports whether s matches the Redis glob pattern p, byte by byte as Redis does:
// * matches any run of bytes, ? one byte, [abc] [a-z] [^a] one byte of (or not of) a class, and
// \x the byte x literally. It backtracks only to the last star, so a pattern of many stars costs
// O(len(p)·len(s)) rather than the exponential time of naive recursion.
func globMatch(p, s []byte) bool {
	pi, si := 0, 0
	starP, starS := -1, 0
	for si < len(s) {
		if pi < len(p) {
			switch p[pi] {
			case '*':
				starP, starS = pi, si
				pi++
				continue
			case '?':
				pi++
				si++
				continue
			case '[':
				if ok, next := matchClass(p, pi, s[si]); ok {
					pi = next
					si++
					continue
				}
			case '\\':
				if pi+1 < len(p) {
					if p[pi+1] == s[si] {
						pi += 2
						si++
						continue
					}
				} else if s[si] == '\\' {
					pi++
					si++
					continue
				}
			default:
				if p[pi] == s[si] {
					pi++
					si++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		// Let the last star swallow one more byte and try again from there.
		starS++
		pi, si = starP+1, starS
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// matchClass matches c against the class starting at p[start] == '[' and returns the index
// after the class. An unterminated class ends with the pattern, as in Redis.
func matchClass(p []byte, start int, c byte) (bool, int) {
	i := start + 1
	negate := false
	if i < len(p) && p[i] == '^' {
		negate = true
		i++
	}
	matched := false
	for i < len(p) && p[i] != ']' {
		switch {
		case p[i] == '\\' && i+1 < len(p):
			i++
			if p[i] == c {
				matched = true
			}
			i++
		case i+2 < len(p) && p[i+1] == '-' && p[i+2] != ']':
			lo, hi := p[i], p[i+2]
			if lo > hi {
				lo, hi = hi, lo
			}
			if c >= lo && c <= hi {
				matched = true
			}
			i += 3
		default:
			if p[i] == c {
				matched = true
			}
			i++
		}
	}
	if i < len(p) {
		i++ // the closing ']'
	}
	return matched != negate, i
}

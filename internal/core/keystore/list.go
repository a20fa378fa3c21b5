package keystore

import "slices"

// Redis list commands. A list is stored whole (see record.go); a list whose last element goes
// is deleted, as in Redis.

// listOf is the key's list; a string or set is a WRONGTYPE error, a missing key an empty list.
func listOf(cur current) ([]string, error) {
	if !cur.present {
		return nil, nil
	}
	if cur.typ != typeList {
		return nil, errWrongType()
	}
	return decodeItems(cur.data)
}

func cmdLpush(c *cmdCall, cur current, _ int64) (change, any, error) {
	items, err := listOf(cur)
	if err != nil {
		return keep(), nil, err
	}
	// LPUSH k a b c leaves c b a at the head.
	head := slices.Clone(c.args)
	slices.Reverse(head)
	items = append(head, items...)
	return putItems(typeList, items, cur.exp), num(int64(len(items))), nil
}

func cmdRpush(c *cmdCall, cur current, _ int64) (change, any, error) {
	items, err := listOf(cur)
	if err != nil {
		return keep(), nil, err
	}
	items = append(items, c.args...)
	return putItems(typeList, items, cur.exp), num(int64(len(items))), nil
}

func cmdLpop(c *cmdCall, cur current, _ int64) (change, any, error) { return pop(c, cur, true) }
func cmdRpop(c *cmdCall, cur current, _ int64) (change, any, error) { return pop(c, cur, false) }

// pop takes one element (no count: the element or nil) or up to count elements (a list, or nil
// when the key is missing) from the head or the tail.
func pop(c *cmdCall, cur current, head bool) (change, any, error) {
	count := int64(-1)
	if len(c.args) == 1 {
		n, ok := parseInt(c.args[0])
		if !ok || n < 0 {
			return keep(), nil, redisErr(msgPositiveArg)
		}
		count = n
	}
	items, err := listOf(cur)
	if err != nil || len(items) == 0 {
		return keep(), nil, err
	}
	if count < 0 {
		if head {
			return putItems(typeList, items[1:], cur.exp), items[0], nil
		}
		return putItems(typeList, items[:len(items)-1], cur.exp), items[len(items)-1], nil
	}
	n := int(min(count, int64(len(items))))
	out := make([]any, n)
	if head {
		for i := range n {
			out[i] = items[i]
		}
		items = items[n:]
	} else {
		for i := range n {
			out[i] = items[len(items)-1-i]
		}
		items = items[:len(items)-n]
	}
	if n == 0 {
		return keep(), out, nil
	}
	return putItems(typeList, items, cur.exp), out, nil
}

func cmdLlen(_ *cmdCall, cur current, _ int64) (change, any, error) {
	items, err := listOf(cur)
	return keep(), num(int64(len(items))), err
}

// span turns Redis' inclusive start/stop (negative counting from the end) into a slice range
// of a list of length n; ok is false when the range is empty.
func span(start, stop int64, n int) (int, int, bool) {
	l := int64(n)
	if start < 0 {
		start += l
	}
	if stop < 0 {
		stop += l
	}
	if start < 0 {
		start = 0
	}
	if start > stop || start >= l {
		return 0, 0, false
	}
	if stop >= l {
		stop = l - 1
	}
	return int(start), int(stop) + 1, true
}

func cmdLrange(c *cmdCall, cur current, _ int64) (change, any, error) {
	start, err := c.intArg(0)
	if err != nil {
		return keep(), nil, err
	}
	stop, err := c.intArg(1)
	if err != nil {
		return keep(), nil, err
	}
	items, err := listOf(cur)
	if err != nil {
		return keep(), nil, err
	}
	out := []any{}
	if i, j, ok := span(start, stop, len(items)); ok {
		for _, it := range items[i:j] {
			out = append(out, it)
		}
	}
	return keep(), out, nil
}

func cmdLtrim(c *cmdCall, cur current, _ int64) (change, any, error) {
	start, err := c.intArg(0)
	if err != nil {
		return keep(), nil, err
	}
	stop, err := c.intArg(1)
	if err != nil {
		return keep(), nil, err
	}
	items, err := listOf(cur)
	if err != nil || !cur.present {
		return keep(), "OK", err
	}
	i, j, ok := span(start, stop, len(items))
	if !ok {
		return drop(), "OK", nil
	}
	if i == 0 && j == len(items) {
		return keep(), "OK", nil
	}
	return putItems(typeList, items[i:j], cur.exp), "OK", nil
}

func cmdLindex(c *cmdCall, cur current, _ int64) (change, any, error) {
	idx, err := c.intArg(0)
	if err != nil {
		return keep(), nil, err
	}
	items, err := listOf(cur)
	if err != nil {
		return keep(), nil, err
	}
	if idx < 0 {
		idx += int64(len(items))
	}
	if idx < 0 || idx >= int64(len(items)) {
		return keep(), nil, nil
	}
	return keep(), items[idx], nil
}

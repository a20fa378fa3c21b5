package keystore

// Redis set commands. A set is stored as its sorted members, so SMEMBERS answers in byte order.

// setOf is the key's set; a string or list is a WRONGTYPE error, a missing key an empty set.
func setOf(cur current) ([]string, error) {
	if !cur.present {
		return nil, nil
	}
	if cur.typ != typeSet {
		return nil, errWrongType()
	}
	return decodeItems(cur.data)
}

func cmdSadd(c *cmdCall, cur current, _ int64) (change, any, error) {
	members, err := setOf(cur)
	if err != nil {
		return keep(), nil, err
	}
	members, added := setAdd(members, c.args...)
	if added == 0 {
		return keep(), num(0), nil
	}
	return putItems(typeSet, members, cur.exp), num(int64(added)), nil
}

func cmdSrem(c *cmdCall, cur current, _ int64) (change, any, error) {
	members, err := setOf(cur)
	if err != nil {
		return keep(), nil, err
	}
	members, removed := setRemove(members, c.args...)
	if removed == 0 {
		return keep(), num(0), nil
	}
	return putItems(typeSet, members, cur.exp), num(int64(removed)), nil
}

func cmdSmembers(_ *cmdCall, cur current, _ int64) (change, any, error) {
	members, err := setOf(cur)
	if err != nil {
		return keep(), nil, err
	}
	out := make([]any, len(members))
	for i, m := range members {
		out[i] = m
	}
	return keep(), out, nil
}

func cmdSismember(c *cmdCall, cur current, _ int64) (change, any, error) {
	members, err := setOf(cur)
	if err != nil {
		return keep(), nil, err
	}
	_, removed := setRemove(members, c.args[0])
	return keep(), boolNum(removed == 1), nil
}

func cmdScard(_ *cmdCall, cur current, _ int64) (change, any, error) {
	members, err := setOf(cur)
	return keep(), num(int64(len(members))), err
}

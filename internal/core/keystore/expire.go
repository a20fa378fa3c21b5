package keystore

import "math"

// Redis expiry commands. Expiries are absolute unix milliseconds on the store's clock, kept in
// the value's message header; an expired key reads as missing everywhere at once, and the
// sweeper deletes it from storage later.

func cmdExpire(c *cmdCall, cur current, now int64) (change, any, error) {
	return expireIn(c, cur, now, 1000)
}

func cmdPexpire(c *cmdCall, cur current, now int64) (change, any, error) {
	return expireIn(c, cur, now, 1)
}

// expireIn sets the key to expire after args[0] units of unit milliseconds; a time not in the
// future deletes the key, as in Redis.
func expireIn(c *cmdCall, cur current, now int64, unit int64) (change, any, error) {
	n, err := c.intArg(0)
	if err != nil {
		return keep(), nil, err
	}
	if n > math.MaxInt64/unit || n < math.MinInt64/unit || n*unit > math.MaxInt64-now {
		return keep(), nil, redisErr("ERR invalid expire time in '" + c.name + "' command")
	}
	if !cur.present {
		return keep(), boolNum(false), nil
	}
	at := now + n*unit
	if at <= now {
		return drop(), boolNum(true), nil
	}
	return change{kind: putIt, value: storedValue(cur), exp: at}, boolNum(true), nil
}

// remainingMs is Redis' PTTL: -2 for a missing key, -1 for a key without expiry.
func remainingMs(cur current, now int64) int64 {
	switch {
	case !cur.present:
		return -2
	case cur.exp == 0:
		return -1
	}
	return cur.exp - now
}

func cmdTTL(_ *cmdCall, cur current, now int64) (change, any, error) {
	ms := remainingMs(cur, now)
	if ms < 0 {
		return keep(), num(ms), nil
	}
	// Rounded to the nearest second, as Redis does.
	return keep(), num((ms + 500) / 1000), nil
}

func cmdPTTL(_ *cmdCall, cur current, now int64) (change, any, error) {
	return keep(), num(remainingMs(cur, now)), nil
}

func cmdPersist(_ *cmdCall, cur current, _ int64) (change, any, error) {
	if !cur.present || cur.exp == 0 {
		return keep(), boolNum(false), nil
	}
	return change{kind: putIt, value: storedValue(cur), exp: 0}, boolNum(true), nil
}

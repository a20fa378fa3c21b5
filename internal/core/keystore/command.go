package keystore

import (
	"context"
	"math"
	"strconv"
	"strings"
)

// command is a supported Redis command on one key.
type command struct {
	name  string
	usage string                                                        // Redis syntax, for the spec and docs
	min   int                                                           // fewest arguments after the key
	max   int                                                           // most arguments after the key; -1 for no limit
	write bool                                                          // needs a read-modify-write; read-only commands never create the bucket
	run   func(c *cmdCall, cur current, now int64) (change, any, error) // nil for SET, see cmdSet
}

// cmdCall is one invocation: the command's name and its arguments after the key, as text.
type cmdCall struct {
	name string
	args []string
}

// commandList is every supported command, in the order the spec lists them.
var commandList = []*command{
	{name: "get", usage: "GET key", write: false, run: cmdGet},
	{name: "set", usage: "SET key value [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL] [NX|XX] [GET]", min: 1, max: -1, write: true}, // run by cmdSet,
	{name: "setnx", usage: "SETNX key value", min: 1, max: 1, write: true, run: cmdSetnx},
	{name: "getset", usage: "GETSET key value", min: 1, max: 1, write: true, run: cmdGetset},
	{name: "append", usage: "APPEND key value", min: 1, max: 1, write: true, run: cmdAppend},
	{name: "strlen", usage: "STRLEN key", run: cmdStrlen},
	{name: "exists", usage: "EXISTS key", run: cmdExists},
	{name: "del", usage: "DEL key", write: true, run: cmdDel},
	{name: "type", usage: "TYPE key", run: cmdType},
	{name: "incr", usage: "INCR key", write: true, run: cmdIncr},
	{name: "decr", usage: "DECR key", write: true, run: cmdDecr},
	{name: "incrby", usage: "INCRBY key increment", min: 1, max: 1, write: true, run: cmdIncrby},
	{name: "decrby", usage: "DECRBY key decrement", min: 1, max: 1, write: true, run: cmdDecrby},
	{name: "incrbyfloat", usage: "INCRBYFLOAT key increment", min: 1, max: 1, write: true, run: cmdIncrbyfloat},
	{name: "lpush", usage: "LPUSH key element [element …]", min: 1, max: -1, write: true, run: cmdLpush},
	{name: "rpush", usage: "RPUSH key element [element …]", min: 1, max: -1, write: true, run: cmdRpush},
	{name: "lpop", usage: "LPOP key [count]", max: 1, write: true, run: cmdLpop},
	{name: "rpop", usage: "RPOP key [count]", max: 1, write: true, run: cmdRpop},
	{name: "llen", usage: "LLEN key", run: cmdLlen},
	{name: "lrange", usage: "LRANGE key start stop", min: 2, max: 2, run: cmdLrange},
	{name: "ltrim", usage: "LTRIM key start stop", min: 2, max: 2, write: true, run: cmdLtrim},
	{name: "lindex", usage: "LINDEX key index", min: 1, max: 1, run: cmdLindex},
	{name: "sadd", usage: "SADD key member [member …]", min: 1, max: -1, write: true, run: cmdSadd},
	{name: "srem", usage: "SREM key member [member …]", min: 1, max: -1, write: true, run: cmdSrem},
	{name: "smembers", usage: "SMEMBERS key", run: cmdSmembers},
	{name: "sismember", usage: "SISMEMBER key member", min: 1, max: 1, run: cmdSismember},
	{name: "scard", usage: "SCARD key", run: cmdScard},
	{name: "expire", usage: "EXPIRE key seconds", min: 1, max: 1, write: true, run: cmdExpire},
	{name: "pexpire", usage: "PEXPIRE key milliseconds", min: 1, max: 1, write: true, run: cmdPexpire},
	{name: "ttl", usage: "TTL key", run: cmdTTL},
	{name: "pttl", usage: "PTTL key", run: cmdPTTL},
	{name: "persist", usage: "PERSIST key", write: true, run: cmdPersist},
}

// commands indexes commandList by lower-case name.
var commands = func() map[string]*command {
	m := make(map[string]*command, len(commandList))
	for _, c := range commandList {
		m[c.name] = c
	}
	return m
}()

// runCommand runs a Redis command: {key, args} → {value=result}.
func (s *Store) runCommand(ctx context.Context, op, solution string, cmd *command, t map[string]any) (any, error) {
	key, err := keyArg(op, t, "key")
	if err != nil {
		return nil, err
	}
	raw, err := list(op, t, "args")
	if err != nil {
		return nil, err
	}
	c := &cmdCall{name: cmd.name, args: make([]string, len(raw))}
	for i, v := range raw {
		if b, ok := v.(bool); ok {
			c.args[i] = strconv.FormatBool(b)
			continue
		}
		a, ok := scalar(v)
		if !ok {
			return nil, argErr(op, "args["+strconv.Itoa(i+1)+"]", "must be a string or number, got %s", kind(v))
		}
		c.args[i] = a
	}
	if len(c.args) < cmd.min || (cmd.max >= 0 && len(c.args) > cmd.max) {
		return nil, errArity(cmd.name)
	}
	var res any
	switch {
	case cmd.name == "set":
		res, err = s.cmdSet(ctx, op, solution, key, c)
	case !cmd.write:
		var cur current
		var now int64
		if cur, now, err = s.read(ctx, op, solution, key); err == nil {
			_, res, err = cmd.run(c, cur, now)
		}
	default:
		var b *bucket
		if b, err = s.writable(ctx, op, solution); err == nil {
			res, err = s.mutate(ctx, op, b, key, func(cur current, now int64) (change, any, error) {
				return cmd.run(c, cur, now)
			})
		}
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"value": res}, nil
}

// num is a Redis integer reply as the number type scripts get.
func num(n int64) any { return float64(n) }

func boolNum(b bool) any {
	if b {
		return float64(1)
	}
	return float64(0)
}

// intArg parses argument i as a Redis integer.
func (c *cmdCall) intArg(i int) (int64, error) {
	n, ok := parseInt(c.args[i])
	if !ok {
		return 0, redisErr(msgNotInteger)
	}
	return n, nil
}

// stringOf is the key's string value; a list or set is a WRONGTYPE error.
func stringOf(cur current) (string, bool, error) {
	if !cur.present {
		return "", false, nil
	}
	if cur.typ != typeString {
		return "", false, errWrongType()
	}
	return string(cur.data), true, nil
}

// storedValue re-encodes the current value, for commands that change only the expiry.
func storedValue(cur current) []byte {
	v := make([]byte, 1+len(cur.data))
	v[0] = cur.typ
	copy(v[1:], cur.data)
	return v
}

func cmdGet(_ *cmdCall, cur current, _ int64) (change, any, error) {
	v, ok, err := stringOf(cur)
	if err != nil || !ok {
		return keep(), nil, err
	}
	return keep(), v, nil
}

// setOptions are SET's options after the value.
type setOptions struct {
	nx, xx, get, keepTTL bool
	exp                  int64 // absolute unix ms, 0 for none
	relMs                int64 // EX/PX given relative to now; resolved against the clock at write
	hasExp               bool
}

func parseSetOptions(args []string) (setOptions, error) {
	var o setOptions
	for i := 0; i < len(args); i++ {
		switch strings.ToUpper(args[i]) {
		case "NX":
			if o.xx {
				return o, redisErr(msgSyntax)
			}
			o.nx = true
		case "XX":
			if o.nx {
				return o, redisErr(msgSyntax)
			}
			o.xx = true
		case "GET":
			o.get = true
		case "KEEPTTL":
			if o.hasExp {
				return o, redisErr(msgSyntax)
			}
			o.keepTTL = true
		case "EX", "PX", "EXAT", "PXAT":
			unit := strings.ToUpper(args[i])
			if o.hasExp || o.keepTTL || i+1 >= len(args) {
				return o, redisErr(msgSyntax)
			}
			i++
			n, ok := parseInt(args[i])
			if !ok {
				return o, redisErr(msgNotInteger)
			}
			if n <= 0 {
				return o, redisErr("ERR invalid expire time in 'set' command")
			}
			if unit == "EX" || unit == "EXAT" {
				if n > math.MaxInt64/1000 {
					return o, redisErr("ERR invalid expire time in 'set' command")
				}
				n *= 1000
			}
			if unit == "EX" || unit == "PX" {
				o.relMs = n
			} else {
				o.exp = n
			}
			o.hasExp = true
		default:
			return o, redisErr(msgSyntax)
		}
	}
	return o, nil
}

// expiryAt resolves the option's expiry against now.
func (o setOptions) expiryAt(now int64) (int64, error) {
	if o.relMs == 0 {
		return o.exp, nil
	}
	if o.relMs > math.MaxInt64-now {
		return 0, redisErr("ERR invalid expire time in 'set' command")
	}
	return now + o.relMs, nil
}

// cmdSet is SET: without NX, XX, GET or KEEPTTL it is one unconditional write; with them a
// read-modify-write.
func (s *Store) cmdSet(ctx context.Context, op, solution, key string, c *cmdCall) (any, error) {
	o, err := parseSetOptions(c.args[1:])
	if err != nil {
		return nil, err
	}
	b, err := s.writable(ctx, op, solution)
	if err != nil {
		return nil, err
	}
	if !o.nx && !o.xx && !o.get && !o.keepTTL {
		exp, err := o.expiryAt(s.nowMs())
		if err != nil {
			return nil, err
		}
		if err := s.writeString(ctx, op, b, key, c.args[0], exp); err != nil {
			return nil, err
		}
		return "OK", nil
	}
	return s.mutate(ctx, op, b, key, func(cur current, now int64) (change, any, error) {
		var old any
		if o.get {
			v, ok, err := stringOf(cur)
			if err != nil {
				return keep(), nil, err
			}
			if ok {
				old = v
			}
		}
		if (o.nx && cur.present) || (o.xx && !cur.present) {
			return keep(), old, nil
		}
		exp, err := o.expiryAt(now)
		if err != nil {
			return keep(), nil, err
		}
		if o.keepTTL {
			exp = cur.exp
		}
		if o.get {
			return putString(c.args[0], exp), old, nil
		}
		return putString(c.args[0], exp), "OK", nil
	})
}

func cmdSetnx(c *cmdCall, cur current, _ int64) (change, any, error) {
	if cur.present {
		return keep(), boolNum(false), nil
	}
	return putString(c.args[0], 0), boolNum(true), nil
}

func cmdGetset(c *cmdCall, cur current, _ int64) (change, any, error) {
	v, ok, err := stringOf(cur)
	if err != nil {
		return keep(), nil, err
	}
	var old any
	if ok {
		old = v
	}
	return putString(c.args[0], 0), old, nil
}

func cmdAppend(c *cmdCall, cur current, _ int64) (change, any, error) {
	v, _, err := stringOf(cur)
	if err != nil {
		return keep(), nil, err
	}
	v += c.args[0]
	return putString(v, cur.exp), num(int64(len(v))), nil
}

func cmdStrlen(_ *cmdCall, cur current, _ int64) (change, any, error) {
	v, _, err := stringOf(cur)
	return keep(), num(int64(len(v))), err
}

func cmdExists(_ *cmdCall, cur current, _ int64) (change, any, error) {
	return keep(), boolNum(cur.present), nil
}

func cmdDel(_ *cmdCall, cur current, _ int64) (change, any, error) {
	return drop(), boolNum(cur.present), nil
}

func cmdType(_ *cmdCall, cur current, _ int64) (change, any, error) {
	if !cur.present {
		return keep(), "none", nil
	}
	return keep(), typeName(cur.typ), nil
}

func cmdIncr(_ *cmdCall, cur current, _ int64) (change, any, error) { return incrBy(cur, 1) }
func cmdDecr(_ *cmdCall, cur current, _ int64) (change, any, error) { return incrBy(cur, -1) }
func cmdIncrby(c *cmdCall, cur current, _ int64) (change, any, error) {
	n, err := c.intArg(0)
	if err != nil {
		return keep(), nil, err
	}
	return incrBy(cur, n)
}

func cmdDecrby(c *cmdCall, cur current, _ int64) (change, any, error) {
	n, err := c.intArg(0)
	if err != nil {
		return keep(), nil, err
	}
	if n == math.MinInt64 {
		return keep(), nil, redisErr("ERR decrement would overflow")
	}
	return incrBy(cur, -n)
}

// incrBy adds delta to the key's integer value (0 when missing), keeping its expiry.
func incrBy(cur current, delta int64) (change, any, error) {
	v, ok, err := stringOf(cur)
	if err != nil {
		return keep(), nil, err
	}
	var n int64
	if ok {
		if n, ok = parseInt(v); !ok {
			return keep(), nil, redisErr(msgNotInteger)
		}
	}
	if (delta > 0 && n > math.MaxInt64-delta) || (delta < 0 && n < math.MinInt64-delta) {
		return keep(), nil, redisErr(msgOverflow)
	}
	n += delta
	return putString(strconv.FormatInt(n, 10), cur.exp), num(n), nil
}

// cmdIncrbyfloat adds a float; like Redis it replies with the new value as a string.
func cmdIncrbyfloat(c *cmdCall, cur current, _ int64) (change, any, error) {
	delta, ok := parseFloat(c.args[0])
	if !ok {
		return keep(), nil, redisErr(msgNotFloat)
	}
	v, present, err := stringOf(cur)
	if err != nil {
		return keep(), nil, err
	}
	var f float64
	if present {
		if f, ok = parseFloat(v); !ok {
			return keep(), nil, redisErr(msgNotFloat)
		}
	}
	f += delta
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return keep(), nil, redisErr(msgNaN)
	}
	text := strconv.FormatFloat(f, 'f', -1, 64)
	return putString(text, cur.exp), text, nil
}

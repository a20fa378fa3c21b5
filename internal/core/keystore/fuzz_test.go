package keystore

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/service"
)

// FuzzCall runs any operation with any JSON-shaped arguments: it must never panic (a panic is
// turned into status 500 by Call, so 500 fails the fuzz too), and every failure is a
// *service.Error with a client or availability status.
func FuzzCall(f *testing.F) {
	seeds := []struct{ op, args string }{
		{"get", `{"key":"k"}`},
		{"set", `{"key":"k","value":"v"}`},
		{"set", `{"key":"k","value":{"a":[1,2,{"b":null}]}}`},
		{"delete", `{"key":"k"}`},
		{"list", `{"match":"[a-","count":3,"cursor":"aw"}`},
		{"info", `{}`},
		{"clear", `null`},
		{"mget", `{"keys":["a","b",1]}`},
		{"mset", `{"values":{"a":"1","b":2}}`},
		{"mset", `{"keys":["a"],"values":[true]}`},
		{"mdelete", `{"keys":["a"]}`},
		{"command", `{"key":"k","command":"set","args":["v","EX",1e300]}`},
		{"command", `{"key":"k","command":"lrange","args":[-9223372036854775808,9223372036854775807]}`},
		{"command", `{"key":"l","command":"rpush","args":["a","b"]}`},
		{"command", `{"key":"l","command":"ltrim","args":[1,-1]}`},
		{"command", `{"key":"l","command":"lpop","args":[1e20]}`},
		{"command", `{"key":"n","command":"incrbyfloat","args":["1e308"]}`},
		{"command", `{"key":"n","command":"incrbyfloat","args":["1e308"]}`},
		{"command", `{"key":"n","command":"pexpire","args":[-9.3e18]}`},
		{"incrby", `{"key":"n","args":["9223372036854775807"]}`},
		{"sadd", `{"key":"s","args":["x",1,false]}`},
		{"expire", `{"key":"s","args":[9.3e18]}`},
		{"nope", `[]`},
		{"get", `"str"`},
		{"get", `[1,2]`},
	}
	for _, s := range seeds {
		f.Add(s.op, s.args)
	}
	s := newStore(f, Options{MaxKeys: 200, MaxValueBytes: 4096})
	f.Fuzz(func(t *testing.T, op, raw string) {
		var a any
		if err := json.Unmarshal([]byte(raw), &a); err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		start := time.Now()
		res, err := s.Call(ctx, "fuzz", op, a)
		if d := time.Since(start); d > 15*time.Second { // the call ignored its 10s deadline
			t.Fatalf("%s(%s) took %v (%v)", op, raw, d, err)
		}
		if err != nil {
			var se *service.Error
			if !errors.As(err, &se) {
				t.Fatalf("%s(%s): error %T is not a *service.Error: %v", op, raw, err, err)
			}
			switch se.Status {
			case 400, 404, 413, 507:
			default:
				t.Fatalf("%s(%s): status %d: %v", op, raw, se.Status, err)
			}
			return
		}
		if _, err := json.Marshal(res); err != nil {
			t.Fatalf("%s(%s): result %#v is not plain data: %v", op, raw, res, err)
		}
	})
}

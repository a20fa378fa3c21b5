package cli

import (
	"testing"
)

// switchboard whoami against a real hub: the admin token, a solution's token, and a token the
// hub does not know (refused, exit code 1).
func TestWhoAmICommand(t *testing.T) {
	t.Parallel()
	s, env := realEnv(t)
	tok := s.CreateSolution(t, "mine")
	with := func(token string) map[string]string {
		e := map[string]string{}
		for k, v := range env {
			e[k] = v
		}
		e["SWITCHBOARD_TOKEN"] = token
		return e
	}
	for _, tc := range []struct {
		name    string
		env     map[string]string
		args    []string
		code    int
		out     []string
		errText []string
	}{
		{"admin", env, nil, 0, []string{"the admin token"}, nil},
		{"admin as JSON", env, []string{"-o", "json"}, 0, []string{`"admin": true`}, nil},
		{"a solution's token", with(tok), nil, 0, []string{"the token of solution mine"}, nil},
		{"a solution's token as JSON", with(tok), []string{"-o", "json"}, 0, []string{`"admin": false`, `"solution": "mine"`}, nil},
		{"an unknown token", with("sbs_nobody"), nil, 1, nil, []string{"unknown token"}},
		{"an argument", env, []string{"extra"}, 2, nil, []string{"switchboard: "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, tc.env, "", append([]string{"whoami"}, tc.args...)...)
			r.check(t, tc.code, tc.out, tc.errText)
		})
	}
}

package cli

import (
	"sort"

	"github.com/spf13/pflag"
)

// envAnnotation is the pflag annotation that names a flag's environment variable.
const envAnnotation = "switchboard_env"

// envSuffix is appended to a flag's usage to name its environment variable.
func envSuffix(env string) string { return " (env " + env + ")" }

// bindEnv records env as the environment variable of the flag name in fs.
func bindEnv(fs *pflag.FlagSet, name, env string) {
	if err := fs.SetAnnotation(name, envAnnotation, []string{env}); err != nil {
		panic(err) // a flag registered in this package is missing: a programming error
	}
}

// stringFlag adds a string flag whose usage names env and which applyEnv fills from env.
func stringFlag(fs *pflag.FlagSet, p *string, name, short, def, env, usage string) {
	fs.StringVarP(p, name, short, def, usage+envSuffix(env))
	bindEnv(fs, name, env)
}

// varFlag adds a flag of any pflag.Value whose usage names env and which applyEnv fills from env.
func varFlag(fs *pflag.FlagSet, v pflag.Value, name, env, usage string) {
	fs.Var(v, name, usage+envSuffix(env))
	bindEnv(fs, name, env)
}

// applyEnv sets every flag of fs that has an environment variable and was not given on the
// command line from that variable, if it is set and not empty. A value the flag does not
// accept is a usage error naming the variable.
func applyEnv(fs *pflag.FlagSet, getenv func(string) (string, bool)) error {
	var flags []*pflag.Flag
	fs.VisitAll(func(f *pflag.Flag) { flags = append(flags, f) })
	sort.Slice(flags, func(i, j int) bool { return flags[i].Name < flags[j].Name })
	for _, f := range flags {
		envs := f.Annotations[envAnnotation]
		if len(envs) == 0 || f.Changed {
			continue
		}
		val, ok := getenv(envs[0])
		if !ok || val == "" {
			continue
		}
		if err := f.Value.Set(val); err != nil {
			return usagef("%s=%q: not a valid value for --%s: %v", envs[0], val, f.Name, err)
		}
	}
	return nil
}

// intFlag adds an int flag whose usage names env and which applyEnv fills from env.
func intFlag(fs *pflag.FlagSet, p *int, name string, def int, env, usage string) {
	fs.IntVar(p, name, def, usage+envSuffix(env))
	bindEnv(fs, name, env)
}

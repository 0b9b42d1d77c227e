//go:build wasip1

// Command badinject is a test injector that returns a hostile plan; the
// environment's name picks the attack. The host must refuse every one
// before applying anything. See cmd/flyte/testdata/script/run_hostile.txt.
package main

import (
	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/abi/guest"
)

type bad struct{}

func (bad) Plan(req *abi.PlanRequest) (*abi.Plan, error) {
	ref, name := uint32(1), "K"
	if len(req.Secrets) > 0 {
		ref, name = req.Secrets[0].Ref, req.Secrets[0].AsEnvVar
	}
	file := func(path string, mode uint32) *abi.Plan {
		return &abi.Plan{Files: []abi.FileEntry{{Path: path, Mode: mode, Ref: ref}}}
	}
	env := func(name string) *abi.Plan { return &abi.Plan{Env: []abi.EnvEntry{{Name: name, Ref: ref}}} }
	switch req.Task.Environment {
	case "passwd":
		return file("/etc/passwd", 0o400), nil
	case "traversal":
		return file("/etc/flyte/secrets/../../passwd", 0o400), nil
	case "nested":
		return file("/etc/flyte/secrets/a/b", 0o400), nil
	case "symlink":
		return file("/proc/self/root/etc/flyte/secrets/x", 0o400), nil
	case "setuid":
		return file("/etc/flyte/secrets/x", 0o4755), nil
	case "wide":
		return file("/etc/flyte/secrets/x", 0o644), nil
	case "ldpreload":
		return env("LD_PRELOAD"), nil
	case "path":
		return env("PATH"), nil
	case "lowercase":
		return env("my_var"), nil
	case "literal":
		return &abi.Plan{Env: []abi.EnvEntry{{Name: "STOLEN", Value: []byte("attacker-chosen")}}}, nil
	case "foreign":
		return &abi.Plan{Env: []abi.EnvEntry{{Name: "OTHER", Ref: 999}}}, nil
	case "omit":
		return &abi.Plan{}, nil
	case "twice":
		return &abi.Plan{Env: []abi.EnvEntry{{Name: name, Ref: ref}, {Name: name, Ref: ref}}}, nil
	case "rename":
		return env("SOMEWHERE_ELSE"), nil
	case "copy":
		return &abi.Plan{Env: []abi.EnvEntry{{Name: name, Ref: ref}, {Name: "COPY", Ref: ref}}}, nil
	case "flood":
		p := &abi.Plan{}
		for i := 0; i < 300; i++ {
			p.Env = append(p.Env, abi.EnvEntry{Name: "V" + string(rune('A'+i%26)) + string(rune('A'+i/26)), Ref: ref})
		}
		return p, nil
	case "refuse":
		return nil, abi.Errorf(abi.InvalidArgument, "no \x1b[31mthanks")
	case "hang":
		//lint:ignore SA5002 the attack: a plugin that never returns
		for {
		}
	}
	// A well-behaved plan, to show the plugin itself loads and works.
	return env(name), nil
}

func init() {
	guest.ServeInjector(guest.Info{Name: "badinject", Version: "0.0.1", Summary: "hostile test injector"}, bad{})
}

func main() {}

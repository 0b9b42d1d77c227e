//go:build wasip1

// Command badinject is a test injector that returns a hostile plan or
// render plan; the environment's name picks the attack. The host must
// refuse every one before applying anything. See
// cmd/flyte/testdata/script/run_hostile.txt (PLAN) and hostile_render.txt
// (RENDER: the environments named render-*).
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

// Render answers RENDER. A well-behaved answer (any environment not named
// below) renders each output as "KEY=" and each of its secrets, joined by
// ",". The attacks:
//
//   - render-undeclared: also answers an output it was not asked for (#99);
//   - render-twice: answers the first output twice;
//   - render-omit: answers no output;
//   - render-unrouted: uses, in the first output, the first ref (counting
//     from 1) that is not routed to it, such as a secret of the task routed
//     to another output or injector;
//   - render-foreign: references secret #999, which the task did not ask for;
//   - render-both: a part with both text and a ref;
//   - render-deep: parts nested 9 deep (the limit is 8);
//   - render-wide: 5000 parts (the limit is 4096 per answer);
//   - render-huge: 70 KiB of literal text in one output (the limit is 64 KiB);
//   - render-transform: an unknown transform (42);
//   - render-bomb: a secret base64-encoded 64 times (over every size limit);
//   - render-nul: a NUL byte in every output (refused in a variable);
//   - render-refuse: an error status.
func (bad) Render(req *abi.RenderRequest) (*abi.RenderPlan, error) {
	out := &abi.RenderPlan{}
	for _, o := range req.Outputs {
		var parts []abi.Part
		for i, r := range o.Refs {
			if i > 0 {
				parts = append(parts, abi.Part{Text: []byte(",")})
			}
			parts = append(parts, abi.Part{Text: []byte(keyOf(req, r) + "=")}, abi.Part{Ref: r})
		}
		out.Outputs = append(out.Outputs, abi.Output{ID: o.ID, Parts: parts})
	}
	if len(out.Outputs) == 0 {
		return out, nil
	}
	first := &out.Outputs[0]
	firstRef := uint32(1)
	if refs := req.Outputs[0].Refs; len(refs) > 0 {
		firstRef = refs[0]
	}
	switch req.Task.Environment {
	case "render-undeclared":
		out.Outputs = append(out.Outputs, abi.Output{ID: 99, Parts: []abi.Part{{Ref: firstRef}}})
	case "render-twice":
		out.Outputs = append(out.Outputs, out.Outputs[0])
	case "render-omit":
		out.Outputs = nil
	case "render-unrouted":
		r := uint32(1)
		for routed(req.Outputs[0].Refs, r) {
			r++
		}
		first.Parts = append(first.Parts, abi.Part{Ref: r})
	case "render-foreign":
		first.Parts = append(first.Parts, abi.Part{Ref: 999})
	case "render-both":
		first.Parts = append(first.Parts, abi.Part{Text: []byte("x"), Ref: firstRef})
	case "render-deep":
		p := abi.Part{Ref: firstRef}
		for i := 0; i < 8; i++ {
			p = abi.Part{Parts: []abi.Part{p}}
		}
		first.Parts = []abi.Part{p}
	case "render-wide":
		first.Parts = make([]abi.Part, 5000)
		for i := range first.Parts {
			first.Parts[i] = abi.Part{Text: []byte("x")}
		}
	case "render-huge":
		first.Parts = append(first.Parts, abi.Part{Text: make([]byte, 70<<10)})
	case "render-transform":
		first.Parts = []abi.Part{{Ref: firstRef, Transforms: []abi.Transform{42}}}
	case "render-bomb":
		eight := []abi.Transform{1, 1, 1, 1, 1, 1, 1, 1}
		p := abi.Part{Ref: firstRef, Transforms: eight}
		for i := 0; i < 7; i++ {
			p = abi.Part{Parts: []abi.Part{p}, Transforms: eight}
		}
		first.Parts = []abi.Part{p}
	case "render-nul":
		for i := range out.Outputs {
			out.Outputs[i].Parts = append(out.Outputs[i].Parts, abi.Part{Text: []byte{0}})
		}
	case "render-refuse":
		return nil, abi.Errorf(abi.InvalidArgument, "no \x1b[31mthanks")
	}
	return out, nil
}

// keyOf is the key of the secret ref names in req.
func keyOf(req *abi.RenderRequest, ref uint32) string {
	for _, s := range req.Secrets {
		if s.Ref == ref {
			return s.Key
		}
	}
	return "?"
}

func routed(refs []uint32, r uint32) bool {
	for _, x := range refs {
		if x == r {
			return true
		}
	}
	return false
}

func init() {
	guest.ServeInjector(guest.Info{Name: "badinject", Version: "0.0.1", Summary: "hostile test injector"}, bad{})
}

func main() {}

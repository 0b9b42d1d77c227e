// Package tmplinject is an example injector that renders whole files and
// variables from several secrets: a config file holding a database user and
// password, a DATABASE_URL with an escaped password, a docker config.json
// whose auth is base64(user:password).
//
// The template comes from the plugin's configuration in flyte.toml: the
// key named like the output (its file name or variable), else "template".
// Text is copied; actions between {{ and }} insert secrets:
//
//	{{secret "db_password"}}                     the secret's value
//	{{secret "db_password" | urlescape}}         transformed (base64, base64decode, json, urlescape)
//	{{concat (secret "user") ":" (secret "password") | base64}}
//	{{"{{"}}                                     a literal string
//
// The template is parsed here, in the guest, into abi.Part trees; the host
// puts the values in and applies the transforms, so the plugin never sees
// a value, and the output's name and mode stay the user's. For PLAN it
// behaves like the built-in injectors together: each secret to the
// variable it was requested as, or to the file mount/KEY.
package tmplinject

import (
	"strconv"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/abi/guest"
)

// Info describes the plugin.
var Info = guest.Info{Name: "tmplinject", Version: "1.0.0", Summary: "renders files and variables from templates of several secrets"}

// Mode is the mode of each file a plan writes.
const Mode = 0o400

// Limits of a template, below the host's for a render plan (abi/SPEC.md,
// section 7.1), so that a template over them gets this plugin's message.
const (
	MaxDepth      = 6         // nested concat
	MaxParts      = 1024      // parts per output
	MaxText       = 64 << 10  // literal bytes per output
	MaxTransforms = 8         // transforms on one value
	maxInput      = 256 << 10 // template text
)

// Injector implements guest.Injector and guest.Renderer.
type Injector struct {
	// Config returns the plugin's configuration as the host encodes it
	// (guest.Config in the plugin).
	Config func() []byte
}

// Plan implements guest.Injector: each secret goes to the variable it was
// requested as, or to the file mount/KEY.
func (Injector) Plan(req *abi.PlanRequest) (*abi.Plan, error) {
	plan := new(abi.Plan)
	for _, s := range req.Secrets {
		switch {
		case s.AsEnvVar != "":
			plan.Env = append(plan.Env, abi.EnvEntry{Name: s.AsEnvVar, Ref: s.Ref})
		case s.Mount != "":
			plan.Files = append(plan.Files, abi.FileEntry{Path: s.Mount + "/" + s.Key, Mode: Mode, Ref: s.Ref})
		default:
			return nil, abi.Errorf(abi.InvalidArgument, "secret ", s.Key, " was requested neither as a variable nor as a file")
		}
	}
	return plan, nil
}

// Render implements guest.Renderer: one template per output.
func (in Injector) Render(req *abi.RenderRequest) (*abi.RenderPlan, error) {
	var cfg abi.PluginConfig
	if in.Config != nil {
		if err := abi.Unmarshal(in.Config(), &cfg); err != nil {
			return nil, abi.Errorf(abi.Internal, "the host sent a malformed configuration")
		}
	}
	plan := new(abi.RenderPlan)
	for _, o := range req.Outputs {
		name := o.File
		if name == "" {
			name = o.Env
		}
		text, ok := lookup(&cfg, name)
		if !ok {
			if text, ok = lookup(&cfg, "template"); !ok {
				return nil, abi.Errorf(abi.InvalidArgument, "no template for output ", name,
					": set template (or ", strconv.Quote(name), ") in the plugin's config table in flyte.toml")
			}
		}
		refs := func(key string) (uint32, error) { return ref(req.Secrets, &o, name, key) }
		parts, err := Parse(text, refs)
		if err != nil {
			return nil, abi.Errorf(abi.StatusOf(err), "template for ", name, ": ", err.Error())
		}
		plan.Outputs = append(plan.Outputs, abi.Output{ID: o.ID, Parts: parts})
	}
	return plan, nil
}

func lookup(cfg *abi.PluginConfig, key string) (string, bool) {
	for _, kv := range cfg.Entries {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return "", false
}

// ref finds the secret a template names among those routed to output o.
func ref(secrets []abi.SecretRequest, o *abi.OutputRequest, name, key string) (uint32, error) {
	var found uint32
	for _, s := range secrets {
		if s.Key != key {
			continue
		}
		for _, r := range o.Refs {
			if r == s.Ref {
				if found != 0 && found != r {
					return 0, abi.Errorf(abi.InvalidArgument, "secret ", key, " is routed to ", name, " twice (from two groups)")
				}
				found = r
			}
		}
	}
	if found == 0 {
		return 0, abi.Errorf(abi.InvalidArgument, "uses secret ", key, ", which is not routed to ", name,
			" (list it in the secrets of its [[environments.render]] entry)")
	}
	return found, nil
}

func validKey(k string) bool {
	if k == "" || len(k) > 128 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

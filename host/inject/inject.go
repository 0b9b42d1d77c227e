// Package inject routes a task's secrets to injector plugins, asks each for
// a plan, and checks every plan before anything is applied. Injectors are
// hostile until proven otherwise: they never see values (a plan names
// secrets by reference), and a plan that would set a loader or shell
// control variable, write outside /etc/flyte/secrets, use a link or a wide
// mode, exceed a limit, name a secret not routed to it, deliver one twice,
// somewhere other than where it was requested, or not at all, is refused
// as a whole. The user decides where each secret goes; an injector decides
// how (the file mode). An injector may also render outputs the user
// declared from several secrets (Render): it sends a template of text,
// references and transforms, and the host fills in the values, checks the
// whole answer and masks every rendered form.
package inject

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/envname"
	"github.com/flytesecrets/flyte/host/sanitize"
	"github.com/flytesecrets/flyte/host/secretfile"
)

// Limits on a task's plan.
const (
	MaxEnv       = 256
	MaxFiles     = 256
	MaxEnvValue  = 128 << 10 // Linux refuses larger strings in execve (MAX_ARG_STRLEN)
	MaxFileBytes = 64 << 20  // the task's secrets tmpfs
	DefaultMode  = secretfile.DefaultMode
	MaxMode      = secretfile.MaxMode
)

// Secret is one resolved secret of a task, with how it was requested.
type Secret struct {
	Key      string
	Group    string
	Kind     abi.SecretKind
	Scope    abi.Scope
	AsEnvVar string
	Mount    string
	Injector string
	Value    []byte
}

// EnvVar is a variable to set in the task's environment.
type EnvVar struct {
	Name  string
	Value []byte
}

// File is a file to create in the task's /etc/flyte/secrets.
type File struct {
	Name  string // base name, directly under abi.SecretsDir
	Mode  fs.FileMode
	Value []byte
}

// Applied is a validated plan, ready to apply.
type Applied struct {
	Env   []EnvVar
	Files []File
	// Mask are the rendered forms of secrets made of secrets alone (see
	// Render), each to be masked in the task's output with every encoding
	// of it and of its lines (mask.Forms), like the secrets' own values.
	Mask [][]byte
	// MaskWhole are the rendered forms that join literal text with
	// secrets, each to be masked with every encoding of it as a whole but
	// not line by line (mask.WholeForms): a line of one may be the
	// template's text alone, and each line holding secret bytes is masked
	// by the forms of those secrets.
	MaskWhole [][]byte

	owned [][]byte // buffers rendered here, which Wipe clears
}

// Wipe clears the values this plan rendered (a plan's other values are
// the secrets', cleared by whoever holds them) and its forms to mask.
func (a *Applied) Wipe() {
	if a == nil {
		return
	}
	for _, b := range a.owned {
		clear(b)
	}
	a.owned = nil
}

// Join adds b, the outputs Render rendered, to a, a plan's result, within
// the limits on a task: at most MaxEnv variables, MaxFiles files and
// MaxFileBytes file bytes, each name once (the configuration already
// refuses two secrets or outputs aimed at one place). On an error a is
// unchanged and b is wiped.
func (a *Applied) Join(environment string, b *Applied) error {
	var err error
	vars, files := map[string]bool{}, map[string]bool{}
	total := 0
	for _, x := range [2]*Applied{a, b} {
		for _, e := range x.Env {
			if vars[e.Name] && err == nil {
				err = &RequestError{Environment: environment, Msg: "variable " + e.Name + " is set twice"}
			}
			vars[e.Name] = true
		}
		for _, f := range x.Files {
			if files[f.Name] && err == nil {
				err = &RequestError{Environment: environment, Msg: "file " + abi.SecretsDir + "/" + f.Name + " is written twice"}
			}
			files[f.Name] = true
			total += len(f.Value)
		}
	}
	switch {
	case err != nil:
	case len(vars) > MaxEnv:
		err = &RequestError{Environment: environment, Msg: fmt.Sprintf("gets %d environment variables with its render outputs, more than a task may get (%d)", len(vars), MaxEnv)}
	case len(files) > MaxFiles:
		err = &RequestError{Environment: environment, Msg: fmt.Sprintf("gets %d files with its render outputs, more than a task may get (%d)", len(files), MaxFiles)}
	case total > MaxFileBytes:
		err = &RequestError{Environment: environment, Msg: fmt.Sprintf("gets files of more than %d bytes in all with its render outputs, more than a task's secrets directory holds", MaxFileBytes)}
	}
	if err != nil {
		b.Wipe()
		return err
	}
	a.Env = append(a.Env, b.Env...)
	a.Files = append(a.Files, b.Files...)
	a.Mask = append(a.Mask, b.Mask...)
	a.MaskWhole = append(a.MaskWhole, b.MaskWhole...)
	a.owned = append(a.owned, b.owned...)
	return nil
}

// Injector is a loaded injector plugin.
type Injector interface {
	Call(ctx context.Context, op abi.Op, in []byte) ([]byte, error)
}

// PlanError is a refused plan or a failed injector.
type PlanError struct {
	Injector string
	Msg      string
}

func (e *PlanError) Error() string { return "injector " + e.Injector + ": " + e.Msg }

// RequestError is a request that cannot be met whatever an injector
// plans: a secret whose kind or value cannot fit it (a file secret, a
// value too large or holding a NUL byte, asked for as a variable), or more
// variables, files or file bytes than a task may get. Check finds it
// before any injector is asked.
type RequestError struct {
	Environment string
	Key         string // the secret, or "" when the request as a whole is too large
	Msg         string // what is wrong, after "secret KEY " or "environment ENV: "
	hint        string
}

func (e *RequestError) Error() string {
	if e.Key == "" {
		return "environment " + e.Environment + ": " + e.Msg
	}
	return "environment " + e.Environment + ": secret " + e.Key + " " + e.Msg
}

// Hint says how to ask for the secrets instead.
func (e *RequestError) Hint() string { return e.hint }

// Check returns a *RequestError for the first request that no plan could
// meet: a file secret, or a value over MaxEnvValue or holding a NUL byte,
// asked for as an environment variable (every kind other than a file, a
// string or an image pull secret's JSON, fits a variable when its value
// does); more than MaxEnv variables or MaxFiles files; files of more than
// MaxFileBytes in all. Plan runs it before it asks any injector.
func Check(task abi.Task, secrets []Secret) error {
	var vars, files, fileBytes int
	for _, s := range secrets {
		if s.AsEnvVar == "" {
			if s.Mount != "" {
				files++
				fileBytes += len(s.Value)
			}
			continue
		}
		vars++
		var msg string
		switch {
		case s.Kind == abi.SecretFile:
			msg = "is a file secret and cannot be an environment variable"
		case len(s.Value) > MaxEnvValue:
			msg = fmt.Sprintf("is %d bytes, more than an environment variable can hold (%d)", len(s.Value), MaxEnvValue)
		case bytes.IndexByte(s.Value, 0) >= 0:
			msg = "contains a NUL byte, which an environment variable cannot hold"
		default:
			continue
		}
		return &RequestError{Environment: task.Environment, Key: s.Key, Msg: msg,
			hint: fmt.Sprintf("in flyte.toml, ask for it as a file: { key = %q, mount = %q }; the task reads %s/%s",
				s.Key, abi.SecretsDir, abi.SecretsDir, s.Key)}
	}
	tooMany := func(hint, msg string, args ...any) error {
		return &RequestError{Environment: task.Environment, Msg: fmt.Sprintf(msg, args...), hint: hint}
	}
	switch {
	case vars > MaxEnv:
		return tooMany(fmt.Sprintf("ask for some as files with mount = %q, or bundle several values in one secret", abi.SecretsDir),
			"asks for %d environment variables, more than a task may get (%d)", vars, MaxEnv)
	case files > MaxFiles:
		return tooMany("bundle several values in one file secret",
			"asks for %d files, more than a task may get (%d)", files, MaxFiles)
	case fileBytes > MaxFileBytes:
		return tooMany("keep large data outside flyte, and only the credentials that reach it in secrets",
			"asks for files of %d bytes in all, more than a task's secrets directory holds (%d)", fileBytes, MaxFileBytes)
	}
	return nil
}

// Plan checks the requests (Check), then routes secrets to their injectors
// (in name order), collects their plans and validates them together. load
// returns the named injector. A secret with neither AsEnvVar nor Mount
// (deliver = false) goes to no injector here: it is only rendered (Render).
func Plan(ctx context.Context, task abi.Task, secrets []Secret, load func(name string) (Injector, error)) (*Applied, error) {
	return (*Planner)(nil).Plan(ctx, task, secrets, load)
}

// Plan is the package's Plan, taking the plans of the pure built-in
// injectors from the Planner's cache when it holds them (they are then not
// loaded), and keeping those it had to ask for. A nil Planner caches
// nothing.
func (p *Planner) Plan(ctx context.Context, task abi.Task, secrets []Secret, load func(name string) (Injector, error)) (*Applied, error) {
	if err := Check(task, secrets); err != nil {
		return nil, err
	}
	v := newValidator(secrets)
	for _, r := range route(task, secrets) {
		key, cacheable := p.cacheKey(r.name, r.req)
		if cacheable {
			if plan, ok := p.cached(r.name, key, secrets, r.routed); ok {
				if err := v.add(r.name, r.routed, plan); err != nil {
					return nil, err
				}
				continue
			}
		}
		inj, err := load(r.name)
		if err != nil {
			return nil, err
		}
		out, err := inj.Call(ctx, abi.OpPlan, r.req)
		if err != nil {
			var se *abi.StatusError
			if errors.As(err, &se) {
				return nil, &PlanError{Injector: r.name, Msg: "refused to plan: " + se.Message}
			}
			return nil, err
		}
		var plan abi.Plan
		if err := abi.Unmarshal(out, &plan); err != nil {
			return nil, &PlanError{Injector: r.name, Msg: "sent a malformed plan"}
		}
		if err := v.add(r.name, r.routed, &plan); err != nil {
			return nil, err
		}
		if cacheable {
			// Validated: it names secrets by reference only, so it holds
			// no value. Kept in the codec's canonical form.
			p.cache.Put(key, abi.Marshal(&plan))
		}
	}
	return v.applied, nil
}

// validator checks plans against the secrets and against each other.
type validator struct {
	secrets []Secret
	applied *Applied
	env     map[string]bool
	files   map[string]bool
	bytes   int
}

func newValidator(secrets []Secret) *validator {
	return &validator{secrets: secrets, applied: &Applied{}, env: map[string]bool{}, files: map[string]bool{}}
}

// Validate checks one injector's plan for the secrets routed to it (by
// index into secrets) and returns what it would apply.
func Validate(injector string, secrets []Secret, routed []int, plan *abi.Plan) (*Applied, error) {
	v := newValidator(secrets)
	if err := v.add(injector, routed, plan); err != nil {
		return nil, err
	}
	return v.applied, nil
}

func (v *validator) add(name string, routed []int, plan *abi.Plan) error {
	bad := func(format string, args ...any) error {
		return &PlanError{Injector: name, Msg: "bad plan: " + sanitize.Text(fmt.Sprintf(format, args...))}
	}
	mine := map[uint32]bool{}
	for _, i := range routed {
		mine[uint32(i+1)] = true
	}
	used := map[uint32]bool{}
	ref := func(what string, r uint32, literal []byte) (*Secret, error) {
		if len(literal) > 0 {
			return nil, bad("%s is set to a value that is not a requested secret", what)
		}
		if !mine[r] {
			return nil, bad("%s refers to a secret that was not routed to this injector", what)
		}
		if used[r] {
			return nil, bad("%s delivers secret %s a second time", what, v.secrets[r-1].Key)
		}
		used[r] = true
		return &v.secrets[r-1], nil
	}
	if len(v.applied.Env)+len(plan.Env) > MaxEnv || len(v.applied.Files)+len(plan.Files) > MaxFiles {
		return bad("more than %d variables or %d files", MaxEnv, MaxFiles)
	}
	for _, e := range plan.Env {
		if !envname.Valid(e.Name) {
			return bad("invalid environment variable name %q", e.Name)
		}
		if _, why, ok := envname.Denied(e.Name); ok {
			return bad("sets %s, which a plan may never set: %s", e.Name, why)
		}
		if v.env[e.Name] {
			return bad("sets %s twice", e.Name)
		}
		s, err := ref("variable "+e.Name, e.Ref, e.Value)
		if err != nil {
			return err
		}
		// The user chose where each secret goes; an injector decides how.
		// Check refused what no plan could fit; a plan is checked again.
		switch {
		case s.AsEnvVar == "":
			return bad("puts secret %s in variable %s, but it was requested as a file", s.Key, e.Name)
		case e.Name != s.AsEnvVar:
			return bad("puts secret %s in variable %s, but it was requested as %s", s.Key, e.Name, s.AsEnvVar)
		}
		switch {
		case s.Kind == abi.SecretFile:
			return bad("puts file secret %s in variable %s: request it with mount = %q", s.Key, e.Name, abi.SecretsDir)
		case len(s.Value) > MaxEnvValue:
			return bad("puts secret %s (%d bytes) in variable %s: the limit is %d bytes; mount it as a file", s.Key, len(s.Value), e.Name, MaxEnvValue)
		case strings.IndexByte(string(s.Value), 0) >= 0:
			return bad("puts secret %s, which contains a NUL byte, in variable %s: mount it as a file", s.Key, e.Name)
		}
		v.env[e.Name] = true
		v.applied.Env = append(v.applied.Env, EnvVar{Name: e.Name, Value: s.Value})
	}
	for _, f := range plan.Files {
		base, ok := strings.CutPrefix(f.Path, abi.SecretsDir+"/")
		if !ok || !secretfile.ValidName(base) {
			return bad("writes %q: files must lie directly under %s", f.Path, abi.SecretsDir)
		}
		mode := fs.FileMode(f.Mode)
		if mode == 0 {
			mode = DefaultMode
		}
		if !secretfile.ValidMode(f.Mode) {
			return bad("gives %s mode %04o: the widest allowed is %04o", f.Path, f.Mode, MaxMode)
		}
		if v.files[base] {
			return bad("writes %s twice", f.Path)
		}
		s, err := ref("file "+f.Path, f.Ref, f.Value)
		if err != nil {
			return err
		}
		switch {
		case s.Mount == "":
			return bad("writes secret %s to %s, but it was requested as variable %s", s.Key, f.Path, s.AsEnvVar)
		case base != s.Key:
			return bad("writes secret %s to %s, but it was requested as %s/%s", s.Key, f.Path, s.Mount, s.Key)
		}
		if v.bytes += len(s.Value); v.bytes > MaxFileBytes {
			return bad("files total more than %d bytes", MaxFileBytes)
		}
		v.files[base] = true
		v.applied.Files = append(v.applied.Files, File{Name: base, Mode: mode, Value: s.Value})
	}
	for _, i := range routed {
		if !used[uint32(i+1)] {
			return bad("leaves out secret %s", v.secrets[i].Key)
		}
	}
	return nil
}

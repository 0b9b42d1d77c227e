package core

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/config"
	"github.com/flytesecrets/flyte/host/inject"
	"github.com/flytesecrets/flyte/host/scope"
	"github.com/flytesecrets/flyte/host/secrets"
)

// UnknownEnvironmentError names an environment flyte.toml does not define.
type UnknownEnvironmentError struct {
	Name  string
	Known []string
}

// Error does not repeat the name: it may be a value typed in the wrong place.
func (e *UnknownEnvironmentError) Error() string {
	if len(e.Known) == 0 {
		return "unknown environment: the configuration defines none"
	}
	return "unknown environment: defined are " + strings.Join(e.Known, ", ")
}

// Task is a task ready to run: its secrets and where they go.
type Task struct {
	Secrets []secrets.Resolved
	Applied *inject.Applied
}

// Close clears the task's secret values, and what was rendered from them,
// from memory.
func (t *Task) Close() {
	for _, s := range t.Secrets {
		clear(s.Value)
	}
	t.Applied.Wipe()
}

// Values returns what the task's output must not show, nor any line of:
// every secret value the task received, and every rendered form made of
// secrets alone (inject.Applied.Mask: an escaped password, a key
// base64-decoded). Each is masked with its encodings and those of its
// lines (mask.Forms).
func (t *Task) Values() [][]byte {
	out := make([][]byte, 0, len(t.Secrets))
	for _, s := range t.Secrets {
		out = append(out, s.Value)
	}
	if t.Applied != nil {
		out = append(out, t.Applied.Mask...)
	}
	return out
}

// WholeValues returns the rendered forms that join literal text with
// secrets (inject.Applied.MaskWhole: a docker auth's user:password and its
// base64, each rendered output), which the task's output must not show
// whole. Each is masked with its encodings but not line by line
// (mask.WholeForms): a line of one may be the template's text alone, and
// the secrets in it are among Values.
func (t *Task) WholeValues() [][]byte {
	if t.Applied == nil {
		return nil
	}
	return t.Applied.MaskWhole
}

// Environment returns the named environment, with project and domain
// overridden when given (nil keeps the environment's own).
func (c *Core) Environment(name string, project, domain *string) (*config.Environment, string, string, error) {
	env, ok := c.cfg.Environment(name)
	if !ok {
		return nil, "", "", &UnknownEnvironmentError{Name: name, Known: c.cfg.EnvironmentNames()}
	}
	p, d := env.Project, env.Domain
	if project != nil {
		p = *project
	}
	if domain != nil {
		d = *domain
	}
	if err := scope.ValidateProject(p); err != nil {
		return nil, "", "", err
	}
	if err := scope.ValidateDomain(d, c.cfg.Domains); err != nil {
		return nil, "", "", err
	}
	return env, p, d, nil
}

// PrepareTask resolves the environment's secrets for a task in project and
// domain, checks that each fits its request (inject.Check), and has the
// injectors plan where they go. Nothing is applied. No injector is loaded,
// so none of its code runs, before the check: a request the secrets
// cannot fit is the user's mistake, reported as such.
func (c *Core) PrepareTask(ctx context.Context, env *config.Environment, project, domain string) (*Task, error) {
	m, err := c.Secrets(ctx)
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(env.Secrets))
	for i, s := range env.Secrets {
		keys[i] = s.Key
	}
	resolved, err := m.Resolve(ctx, project, domain, keys)
	if err != nil {
		return nil, err
	}
	t := &Task{Secrets: resolved}
	in := make([]inject.Secret, len(env.Secrets))
	for i, req := range env.Secrets {
		r := resolved[i]
		in[i] = inject.Secret{
			Key: req.Key, Group: req.Group, Kind: r.Kind, Scope: abi.Scope(r.Scope),
			AsEnvVar: req.AsEnvVar, Mount: req.Mount, Injector: req.Injector, Value: r.Value,
		}
	}
	task := abi.Task{Environment: env.Name, Org: c.cfg.Organization, Project: project, Domain: domain}
	if err := inject.Check(task, in); err != nil {
		t.Close()
		return nil, err
	}
	// The injectors load in parallel; Plan and Render ask them in name order.
	var injectors []string
	for _, s := range env.Secrets {
		if s.Injector != "" && !slices.Contains(injectors, s.Injector) {
			injectors = append(injectors, s.Injector)
		}
	}
	for _, o := range env.Render {
		if !slices.Contains(injectors, o.Injector) {
			injectors = append(injectors, o.Injector)
		}
	}
	c.Prefetch(ctx, abi.KindInjector, injectors...)
	t.Applied, err = inject.Plan(ctx, task, in, func(name string) (inject.Injector, error) {
		return c.load(ctx, name, abi.KindInjector)
	})
	if err == nil && len(env.Render) > 0 {
		err = c.render(ctx, task, env, in, t.Applied)
	}
	if err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// render has the environment's render outputs rendered (after PLAN: the
// RENDER request names the same secrets by the same refs) and adds them to
// applied. Each output's injector must speak RENDER; the values never
// travel through it.
func (c *Core) render(ctx context.Context, task abi.Task, env *config.Environment, in []inject.Secret, applied *inject.Applied) error {
	index := map[string]int{}
	for i, s := range env.Secrets {
		index[s.Key] = i
	}
	outs := make([]inject.Output, len(env.Render))
	for j, o := range env.Render {
		outs[j] = inject.Output{File: o.File, Env: o.Env, Mode: o.Mode, Injector: o.Injector}
		for _, k := range o.Secrets {
			i, ok := index[k]
			if !ok { // the configuration refuses this
				return &inject.RequestError{Environment: env.Name, Msg: "render output " + o.Name() + " uses secret " + k + ", which the environment does not ask for"}
			}
			outs[j].Refs = append(outs[j].Refs, i)
		}
	}
	rendered, err := inject.Render(ctx, task, in, outs, func(name string) (inject.Injector, error) {
		p, err := c.load(ctx, name, abi.KindInjector)
		if err != nil {
			return nil, err
		}
		return p, RenderSupport(name, p.Info)
	})
	if err != nil {
		return err
	}
	return applied.Join(env.Name, rendered)
}

// RenderError is an injector named for a render output that cannot render:
// built for an ABI minor version before RENDER, or without the op.
type RenderError struct {
	Injector string
	Minor    uint32
}

func (e *RenderError) Error() string {
	if e.Minor < abi.MinorRender {
		return fmt.Sprintf("injector %s speaks flyte ABI v%d.%d, which cannot render outputs: rendering came in v%d.%d",
			e.Injector, abi.Version, e.Minor, abi.Version, abi.MinorRender)
	}
	return fmt.Sprintf("injector %s does not render outputs: its ops do not include RENDER (%d)", e.Injector, abi.OpRender)
}

// Hint says what to do instead.
func (e *RenderError) Hint() string {
	return "name an injector that renders (flyte plugin inspect lists its ops) in the environment's [[environments.render]] entries"
}

// RenderSupport returns a *RenderError unless the injector info describes
// may be sent RENDER: minor version MinorRender or later, and the op in
// its list.
func RenderSupport(name string, info abi.Describe) error {
	if info.Minor < abi.MinorRender || !slices.Contains(info.Ops, abi.OpRender) {
		return &RenderError{Injector: name, Minor: info.Minor}
	}
	return nil
}

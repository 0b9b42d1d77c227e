package core

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/builtin"
	"github.com/flytesecrets/flyte/host/config"
	"github.com/flytesecrets/flyte/host/dockercfg"
	"github.com/flytesecrets/flyte/host/identity"
	"github.com/flytesecrets/flyte/host/inject"
	"github.com/flytesecrets/flyte/host/scope"
	"github.com/flytesecrets/flyte/host/secrets"
	"github.com/flytesecrets/flyte/host/task"
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

// TaskRequest asks for a task of an environment, ready to start (see
// PrepareTask). It is a plain value: the CLI builds it from its flags.
type TaskRequest struct {
	// Environment names an [[environments]] entry of the configuration.
	Environment string
	// Declared, when set, is the environment instead: one a task file
	// declares (config.DeclaredEnvironment), named Environment, which no
	// entry of the configuration may also be named.
	Declared *config.Environment `json:",omitempty"`
	// Project and Domain, when set, replace the environment's own.
	Project *string `json:",omitempty"`
	Domain  *string `json:",omitempty"`
	// Mask asks for what the task's output masker needs (false for
	// --no-mask).
	Mask bool
}

// prepared is a task's resolved secrets and validated plan.
type prepared struct {
	secrets []secrets.Resolved
	applied *inject.Applied
}

// wipe clears the task's secret values, and what was rendered from them,
// from memory.
func (t *prepared) wipe() {
	for _, s := range t.secrets {
		clear(s.Value)
	}
	t.applied.Wipe()
}

// Environment returns the named environment, with project and domain
// overridden when given (nil keeps the environment's own).
func (c *Core) Environment(name string, project, domain *string) (*config.Environment, string, string, error) {
	env, ok := c.cfg.Environment(name)
	if !ok {
		return nil, "", "", &UnknownEnvironmentError{Name: name, Known: c.cfg.EnvironmentNames()}
	}
	p, d, err := c.taskScope(env.Project, env.Domain, project, domain)
	if err != nil {
		return nil, "", "", err
	}
	return env, p, d, nil
}

// taskScope is the project and domain a task runs in: project and domain
// when given, else p and d, checked.
func (c *Core) taskScope(p, d string, project, domain *string) (string, string, error) {
	if project != nil {
		p = *project
	}
	if domain != nil {
		d = *domain
	}
	if err := scope.ValidateProject(p); err != nil {
		return "", "", err
	}
	if err := scope.ValidateDomain(d, c.cfg.Domains); err != nil {
		return "", "", err
	}
	return p, d, nil
}

// EnvironmentConflictError is an environment a task file declares that the
// configuration defines too.
type EnvironmentConflictError struct {
	Name     string
	Declared string // FILE:LINE
	Config   string // the configuration file
}

func (e *EnvironmentConflictError) Error() string {
	return fmt.Sprintf("environment %s is declared in %s and defined in %s too: which one is meant is unclear", e.Name, e.Declared, e.Config)
}

// Hint says how to settle it.
func (e *EnvironmentConflictError) Hint() string {
	return "rename one of them, or remove the [[environments]] entry to use the task file's declaration"
}

// DeclaredEnvironment returns env, an environment a task file declares,
// in project and domain when given, else the configuration's top-level
// project and domain; an environment of the same name in the
// configuration is an *EnvironmentConflictError.
func (c *Core) DeclaredEnvironment(env *config.Environment, project, domain *string) (*config.Environment, string, string, error) {
	if other, ok := c.cfg.Environment(env.Name); ok {
		return nil, "", "", &EnvironmentConflictError{Name: env.Name, Declared: env.File, Config: other.File}
	}
	p, d, err := c.taskScope(c.cfg.Project, c.cfg.Domain, project, domain)
	if err != nil {
		return nil, "", "", err
	}
	return env, p, d, nil
}

// PrepareTask resolves the secrets of the environment req names for a task
// in its project and domain, checks that each fits its request
// (inject.Check), and has the injectors plan where they go. Nothing is
// applied: the caller starts the task (task.Prepared.Start) and wipes it.
// No injector is loaded, so none of its code runs, before the check: a
// request the secrets cannot fit is the user's mistake, reported as such.
func (c *Core) PrepareTask(ctx context.Context, req TaskRequest) (*task.Prepared, error) {
	var env *config.Environment
	var project, domain string
	var err error
	if req.Declared != nil {
		env, project, domain, err = c.DeclaredEnvironment(req.Declared, req.Project, req.Domain)
	} else {
		env, project, domain, err = c.Environment(req.Environment, req.Project, req.Domain)
	}
	if err != nil {
		return nil, err
	}
	t, err := c.prepare(ctx, env, project, domain)
	if err != nil {
		return nil, err
	}
	p := &task.Prepared{Env: t.applied.Env, Files: t.applied.Files, Mask: t.applied.Mask, MaskWhole: t.applied.MaskWhole, Masked: req.Mask}
	for _, s := range t.secrets {
		p.Secrets = append(p.Secrets, s.Value)
		p.From = append(p.From, s.Scope.String())
	}
	if req.Mask {
		p.Mask = append(p.Mask, imagePullMask(t.secrets)...)
		p.Mask = append(p.Mask, c.identityMask()...)
	}
	return p, nil
}

// imagePullMask is what a task's output must not show of its image_pull
// secrets beyond the whole value: each auth string, its decoded
// USER:PASSWORD and the password (copies).
func imagePullMask(resolved []secrets.Resolved) [][]byte {
	var out [][]byte
	for _, s := range resolved {
		if s.Kind == abi.SecretImagePull {
			out = append(out, dockercfg.Sensitive(s.Value)...)
		}
	}
	return out
}

// identityMask is what a task's output must not show of the identity: the
// key, upper and lower case. It is the identity the command already read,
// or else, unless reading it means running FLYTE_IDENTITY_CMD, the
// identity there is.
func (c *Core) identityMask() [][]byte {
	src := c.opts.Identity
	id := src.Loaded()
	if id == nil && src.Variable() != identity.EnvCmd {
		id, _ = src.Load()
	}
	if id == nil {
		return nil
	}
	key := id.String()
	return [][]byte{[]byte(key), []byte(strings.ToLower(key))}
}

// prepare resolves and plans the task of env in project and domain.
func (c *Core) prepare(ctx context.Context, env *config.Environment, project, domain string) (*prepared, error) {
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
	t := &prepared{secrets: resolved}
	in := make([]inject.Secret, len(env.Secrets))
	for i, req := range env.Secrets {
		r := resolved[i]
		in[i] = inject.Secret{
			Key: req.Key, Group: req.Group, Kind: r.Kind, Scope: abi.Scope(r.Scope),
			AsEnvVar: req.AsEnvVar, Mount: req.Mount, Injector: req.Injector, Value: r.Value,
		}
	}
	job := abi.Task{Environment: env.Name, Org: c.cfg.Organization, Project: project, Domain: domain}
	if err := inject.Check(job, in); err != nil {
		t.wipe()
		return nil, err
	}
	// The injectors load in parallel; Plan and Render ask them in name
	// order. An injector whose plan the plan cache holds is not loaded
	// for Plan.
	planner := inject.NewPlanner(c.opts.PlanCache, c.builtinPlugin)
	injectors := planner.Uncached(job, in)
	for _, o := range env.Render {
		if !slices.Contains(injectors, o.Injector) {
			injectors = append(injectors, o.Injector)
		}
	}
	c.Prefetch(ctx, abi.KindInjector, injectors...)
	t.applied, err = planner.Plan(ctx, job, in, func(name string) (inject.Injector, error) {
		return c.load(ctx, name, abi.KindInjector)
	})
	if err == nil && len(env.Render) > 0 {
		err = c.render(ctx, job, env, in, t.applied)
	}
	if err != nil {
		t.wipe()
		return nil, err
	}
	return t, nil
}

// builtinPlugin reports whether the named plugin is flyte's built-in
// module: built in, and not replaced by a [plugins.NAME] entry.
func (c *Core) builtinPlugin(name string) bool {
	_, configured := c.cfg.Plugins[name]
	return !configured && slices.Contains(builtin.Names(), name)
}

// render has the environment's render outputs rendered (after PLAN: the
// RENDER request names the same secrets by the same refs) and adds them to
// applied. Each output's injector must speak RENDER; the values never
// travel through it.
func (c *Core) render(ctx context.Context, job abi.Task, env *config.Environment, in []inject.Secret, applied *inject.Applied) error {
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
	rendered, err := inject.Render(ctx, job, in, outs, func(name string) (inject.Injector, error) {
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

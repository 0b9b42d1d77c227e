package core

import (
	"context"
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

// Close clears the task's secret values from memory.
func (t *Task) Close() {
	for _, s := range t.Secrets {
		clear(s.Value)
	}
}

// Values returns every secret value the task received.
func (t *Task) Values() [][]byte {
	out := make([][]byte, 0, len(t.Secrets))
	for _, s := range t.Secrets {
		out = append(out, s.Value)
	}
	return out
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
	// The injectors load in parallel; Plan asks them in name order.
	var injectors []string
	for _, s := range env.Secrets {
		if !slices.Contains(injectors, s.Injector) {
			injectors = append(injectors, s.Injector)
		}
	}
	c.Prefetch(ctx, abi.KindInjector, injectors...)
	t.Applied, err = inject.Plan(ctx, task, in, func(name string) (inject.Injector, error) {
		return c.load(ctx, name, abi.KindInjector)
	})
	if err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/flytesecrets/flyte/host/config"
	"github.com/flytesecrets/flyte/host/core"
	"github.com/flytesecrets/flyte/host/pytask"
	"github.com/flytesecrets/flyte/host/scope"
	"github.com/flytesecrets/flyte/host/task"
)

// flyte run FILE.py TASK and flyte get secret --resolve FILE.py TASK: the
// declarations are read (host/pytask) before any secret is.

// isTaskFile says whether a run argument names a Python task file.
func isTaskFile(arg string) bool { return strings.HasSuffix(arg, ".py") && len(arg) > len(".py") }

const pyRunUsage = "usage: flyte run [flags] [--local] FILE.py TASK [--NAME VALUE...]"

// declaredTask reads the task's declarations in file and applies the
// configuration's rules to its environment, then checks it against the
// configuration and -p/-d: the environment, and where the task runs.
func (c *cli) declaredTask(file, name string) (*pytask.Declared, *config.Environment, string, string, error) {
	if !pytask.ValidTaskName(name) {
		return nil, nil, "", "", withHint(usagef("the task name (argument TASK) is not a Python identifier"), pyRunUsage)
	}
	cfg, err := c.config()
	if err != nil {
		return nil, nil, "", "", err
	}
	decl, err := pytask.Discover(c.ctx, "", file, name)
	if err != nil {
		return nil, nil, "", "", err
	}
	env, warnings, err := decl.Environment(cfg)
	for _, w := range warnings {
		fmt.Fprintf(c.stderr, "flyte: warning: %s\n", w)
	}
	if err != nil {
		return nil, nil, "", "", err
	}
	k, err := c.engine()
	if err != nil {
		return nil, nil, "", "", err
	}
	var p, d *string
	if c.fs.Changed("project") {
		p = &c.project
	}
	if c.fs.Changed("domain") {
		d = &c.domain
	}
	env, project, domain, err := k.DeclaredEnvironment(env, p, d)
	if err != nil {
		return nil, nil, "", "", given(err)
	}
	return decl, env, project, domain, nil
}

func (c *cli) runTaskFile(file string, rest []string) error {
	if len(rest) == 0 {
		return withHint(usagef("missing task name after the file"), pyRunUsage)
	}
	decl, env, project, domain, err := c.declaredTask(file, rest[0])
	if err != nil {
		return err
	}
	args, err := decl.Task.Args(rest[1:])
	if err != nil {
		var ae *pytask.ArgError
		if errors.As(err, &ae) {
			hints := []string{ae.Hint()}
			if c.flagAmong(rest[1:]) {
				hints = append(hints, "flyte's own flags go before FILE.py: what follows TASK is the task's")
			}
			return withHint(usagef("%s", ae.Msg), hints...)
		}
		return err
	}
	if err := task.CheckFiles(env.Name, env.Files()); err != nil {
		return err
	}
	argv := pytask.Command("", file, decl.Task.Name, args, env)
	path, err := task.LookPath(argv[0])
	if err != nil {
		return c.startFailed(err)
	}
	k, err := c.service()
	if err != nil {
		return err
	}
	req := core.TaskRequest{Environment: env.Name, Declared: env, Project: &project, Domain: &domain, Mask: !c.noMask}
	t, err := k.PrepareTask(c.ctx, req)
	if err != nil {
		return c.explainTask(err, project, domain)
	}
	defer t.Wipe()
	where := scope.Scope{Project: project, Domain: domain}.String()
	if where == "organization" {
		where = "the organization scope"
	}
	for _, l := range decl.Delivery(env, t.From, where) {
		fmt.Fprintf(c.stderr, "flyte: %s\n", l)
	}
	for _, l := range decl.CallNotes() {
		fmt.Fprintf(c.stderr, "flyte: note: %s\n", l)
	}
	return c.startTask(t, path, argv)
}

// flagAmong says whether args hold one of flyte run's own flags.
func (c *cli) flagAmong(args []string) bool {
	for _, a := range args {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "--") && c.fs.Lookup(name) != nil || len(a) == 2 && a[0] == '-' && c.fs.ShorthandLookup(a[1:]) != nil {
			return true
		}
	}
	return false
}

// resolveTaskFile is get secret --resolve FILE.py TASK: where each secret
// the task declares resolves from, in the scope flyte run would run it in,
// or that it is missing (exit 1). Never a value.
func (c *cli) resolveTaskFile(args []string) error {
	if len(args) != 2 {
		return withHint(usagef("--resolve with a file takes FILE.py TASK"), "usage: flyte get secret --resolve [-p PROJECT] [-d DOMAIN] FILE.py TASK")
	}
	format := c.outputFormat
	if c.fs.Changed("output") {
		format = c.output
	}
	_, env, project, domain, err := c.declaredTask(args[0], args[1])
	if err != nil {
		return err
	}
	k, err := c.service()
	if err != nil {
		return err
	}
	res, err := k.List(c.ctx, core.ListRequest{Resolve: true, Project: &project, Domain: &domain})
	if err != nil {
		return c.explain(err, "")
	}
	rows := pytask.Resolution(env, res.Secrets, res.Damaged)
	err = c.buffered(func(w io.Writer) error { return writeResolution(w, rows, format) })
	if err != nil {
		return err
	}
	var missing, damaged []string
	for _, r := range rows {
		switch {
		case r.Missing:
			missing = append(missing, r.Name)
		case r.Damaged:
			damaged = append(damaged, r.Name)
		}
	}
	if len(damaged) > 0 {
		return withHint(fmt.Errorf("environment %s: a record of %s failed its check: the task would not start", env.Name, strings.Join(damaged, ", ")),
			"flyte get secret KEY says which record and why")
	}
	if len(missing) > 0 {
		var hints []string
		flags := scopeFlags(scope.Scope{Project: project, Domain: domain})
		for _, k := range missing {
			hints = append(hints, "create it with: flyte create secret "+join(flags, k))
		}
		return withHint(fmt.Errorf("environment %s: missing %s: the task would not start", env.Name, strings.Join(missing, ", ")), hints...)
	}
	return nil
}

// writeResolution writes rows as get secret writes a listing, in format.
func writeResolution(w io.Writer, rows []pytask.Resolved, format string) error {
	if format == "json" || format == "json-raw" {
		enc := json.NewEncoder(w)
		if format == "json" {
			enc.SetIndent("", "  ")
			return enc.Encode(rows)
		}
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	cells := []string{"NAME", "PROJECT", "DOMAIN", "AS"}
	for _, r := range rows {
		p, d := dash(r.Project), dash(r.Domain)
		switch {
		case r.Missing:
			p, d = "(missing)", "(missing)"
		case r.Damaged:
			p, d = "(damaged)", "(damaged)"
		}
		cells = append(cells, r.Name, p, d, r.As)
	}
	return writeColumns(w, 4, cells, format == "table")
}

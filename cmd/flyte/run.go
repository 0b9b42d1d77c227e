package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/flytesecrets/flyte/host/core"
	"github.com/flytesecrets/flyte/host/scope"
	"github.com/flytesecrets/flyte/host/task"
	"github.com/spf13/pflag"
)

var cmdRun = &command{
	Name:      "run",
	UsageLine: "ENV [-p PROJECT] [-d DOMAIN] [--no-mask] -- CMD [ARGS...] | [flags] [--local] FILE.py TASK [--NAME VALUE...]",
	Short:     "run a task with its secrets: ENV -- CMD, or a Python task FILE.py TASK",
	Long: `
Run runs CMD as a task of the environment ENV defined in flyte.toml
([[environments]]), in the environment's project and domain unless --project
or --domain say otherwise. Each secret the environment asks for is resolved
from the most specific scope that has it: project and domain, then project,
then domain, then the organization; a secret scoped anywhere else is never
visible. If one is missing, nothing runs.

Secrets asked for with as_env_var (or neither) become environment variables;
those asked for with mount = "/etc/flyte/secrets" become files
/etc/flyte/secrets/KEY (mode 0400, owned by you) on a tmpfs in the task's
own namespaces, gone when it ends; other users cannot read them, your own
processes and root can. Which injector plugin places each secret is
configurable; flyte checks every plan before applying it.

The task gets flyte's environment (without FLYTE_IDENTITY, FLYTE_IDENTITY_FILE
and FLYTE_IDENTITY_CMD) plus its secrets, standard input, and the signals
INT, TERM, HUP, QUIT, USR1 and USR2. Its output passes through a masker that
replaces each secret value and your identity (also base64- and JSON-encoded)
with *****; --no-mask turns that off. flyte exits with the task's status, or
128+N when signal N killed it; 127 when CMD is not found. When the task
ends, or flyte is killed, every process the task started is killed too.
On macOS there are no file secrets, and a task can outlive a flyte killed
with SIGKILL (see Platforms in the README).

With FILE.py TASK instead, flyte runs the task function TASK of a Python
file written for the Flyte SDK (@env.task), with the secrets its
flyte.TaskEnvironment declares: it reads the declarations without running
the file (with Python's own parser, following imports of the project's own
modules), resolves them in --project and --domain, else the top-level
project and domain of flyte.toml, else the organization, says on standard
error which secrets it delivers and from which scope, then runs the task in
python3 as above. Without the flyte SDK installed, flyte gives the task a
minimal stand-in module (TaskEnvironment, Secret, the task decorator), in
the task's process only. flyte's flags go before FILE.py; what follows TASK
is the task's: --NAME VALUE for its str, int and float parameters, --NAME
or --no-NAME for a bool. Its return value is printed (masked). A task it
calls of another environment runs in the same process, with the entry
task's secrets only. --local is accepted, as the Flyte CLI spells a local
run: every flyte run is local.

Example:
  flyte run env_1 -- python3 task.py
  flyte run env_2 -p my_project -d staging -- cat /etc/flyte/secrets/my_secret
  flyte run hello.py task_1
  flyte run -p my_project --local main.py train --epochs 3 --verbose`,
	Flags: func(c *cli, fs *pflag.FlagSet) {
		flagScope(c, fs, "run the task in")
		fs.BoolVar(&c.noMask, "no-mask", false, "do not mask secret values in the task's output")
		fs.BoolVar(&c.local, "local", false, "with FILE.py: run the task here, as every flyte run does (the Flyte CLI's spelling)")
	},
	Run: (*cli).run,
}

// exitCode ends flyte with a status and no message (the task's own).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func (c *cli) run(args []string) error {
	if len(args) == 1 && c.fs.ArgsLenAtDash() < 0 && isTaskFile(args[0]) {
		return c.runTaskFile(args[0], c.taskArgs)
	}
	if c.local {
		return withHint(usagef("--local is for a task of a Python file"), "usage: flyte run [flags] --local FILE.py TASK [task arguments]")
	}
	dash := c.fs.ArgsLenAtDash()
	if dash < 0 {
		return withHint(usagef("missing -- before the command"), "usage: flyte run ENV [flags] -- CMD [ARGS...]")
	}
	if dash != 1 {
		if dash == 0 {
			return withHint(usagef("missing environment name"), "usage: flyte run ENV [flags] -- CMD [ARGS...]")
		}
		return withHint(usagef("too many arguments before --"), "usage: flyte run ENV [flags] -- CMD [ARGS...]")
	}
	if len(args) == 1 {
		return withHint(usagef("missing command after --"), "usage: flyte run ENV [flags] -- CMD [ARGS...]")
	}
	name, argv := args[0], args[1:]
	k, err := c.service() // agent.go: the agent, or the core in-process
	if err != nil {
		return err
	}
	req := core.TaskRequest{Environment: name, Mask: !c.noMask}
	if c.fs.Changed("project") {
		req.Project = &c.project
	}
	if c.fs.Changed("domain") {
		req.Domain = &c.domain
	}
	env, p, d, err := k.Environment(req.Environment, req.Project, req.Domain)
	if err != nil {
		return given(err)
	}
	if err := task.CheckFiles(env.Name, env.Files()); err != nil {
		return err // macOS: before any secret is read or anything runs
	}
	path, err := task.LookPath(argv[0])
	if err != nil {
		return c.startFailed(err)
	}
	t, err := k.PrepareTask(c.ctx, req)
	if err != nil {
		return c.explainTask(err, p, d)
	}
	defer t.Wipe()
	return c.startTask(t, path, argv)
}

// startTask starts the prepared task t: the program at path with argv,
// with flyte's environment, streams and signals; flyte's exit status is
// the task's.
func (c *cli) startTask(t *task.Prepared, path string, argv []string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	code, err := t.Start(task.Command{Path: path, Args: argv, Environ: os.Environ(), Stdin: c.stdin, Stdout: c.stdout, Stderr: c.stderr, Self: self})
	if err != nil {
		var ns *task.NamespaceError
		if errors.As(err, &ns) {
			return withHint(err, "run flyte as root, or allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0); flyte never writes secret files to the real /etc")
		}
		return c.startFailed(err)
	}
	if code != 0 {
		return exitCode(code)
	}
	return nil
}

func (c *cli) startFailed(err error) error {
	var se *task.StartError
	if errors.As(err, &se) {
		fmt.Fprintf(c.stderr, "flyte: %s\n", se.Msg)
		return exitCode(se.Code)
	}
	return err
}

// explainTask adds hints to a failed resolution.
func (c *cli) explainTask(err error, project, domain string) error {
	var me *core.MissingError
	if errors.As(err, &me) {
		var hints []string
		flags := scopeFlags(scope.Scope{Project: project, Domain: domain})
		for _, k := range me.Keys {
			hints = append(hints, "create it with: flyte create secret "+join(flags, k))
		}
		return withHint(err, hints...)
	}
	return c.explain(err, "")
}

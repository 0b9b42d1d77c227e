package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/flytesecrets/flyte/host/config"
	"github.com/flytesecrets/flyte/host/core"
	"github.com/flytesecrets/flyte/host/grant"
	"github.com/flytesecrets/flyte/host/scope"
	"github.com/flytesecrets/flyte/host/state"
	"github.com/spf13/pflag"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// command is one CLI command, in the style of the go command's base.Command.
type command struct {
	Name      string // "create secret"
	UsageLine string // arguments after the name
	Short     string
	Long      string
	// Flags declares the command's flags on fs, bound to c's fields.
	Flags func(c *cli, fs *pflag.FlagSet)
	Run   func(c *cli, args []string) error
}

var commands []*command

func init() {
	commands = []*command{cmdCreate, cmdUpdate, cmdGet, cmdDelete, cmdRun, cmdPluginList, cmdConfigTrust, cmdVersion}
}

// cli is one invocation: its streams, environment and parsed flags.
type cli struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	cmd    *command
	fs     *pflag.FlagSet

	configPath string
	project    string
	domain     string
	output     string
	fromFile   string
	ifVersion  uint64
	noMask     bool
	resolve    bool

	trustList   bool // config trust --list
	trustRevoke bool // config trust --revoke

	cfg  *config.Config
	core *core.Core
}

// usageError is a misuse of the command line: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// hintError adds "flyte: hint:" lines to an error.
type hintError struct {
	err   error
	hints []string
}

func (e *hintError) Error() string { return e.err.Error() }
func (e *hintError) Unwrap() error { return e.err }

func withHint(err error, hints ...string) error { return &hintError{err: err, hints: hints} }

// errReported is returned after the command printed its own diagnostics.
var errReported = errors.New("")

func run(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	c := &cli{ctx: context.Background(), stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	defer func() {
		if c.core != nil {
			c.core.Close()
		}
	}()
	return c.report(c.dispatch(args))
}

func (c *cli) report(err error) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, errReported) {
		return exitFailure
	}
	var code exitCode
	if errors.As(err, &code) {
		return int(code) // the task's own status: it said what it had to
	}
	fmt.Fprintf(c.stderr, "flyte: %s\n", err)
	var he *hintError
	var hinter interface{ Hint() string }
	if errors.As(err, &he) {
		for _, h := range he.hints {
			fmt.Fprintf(c.stderr, "flyte: hint: %s\n", h)
		}
	} else if errors.As(err, &hinter) {
		fmt.Fprintf(c.stderr, "flyte: hint: %s\n", hinter.Hint())
	}
	var ue *usageError
	var ie *scope.InvalidError
	if errors.As(err, &ue) || errors.As(err, &ie) {
		return exitUsage
	}
	return exitFailure
}

func (c *cli) dispatch(args []string) error {
	if len(args) == 0 {
		c.mainUsage(c.stderr)
		return &usageError{"no command given"}
	}
	switch args[0] {
	case "-h", "--help", "help":
		if len(args) > 1 && args[0] == "help" {
			if cmd := lookup(args[1:]); cmd != nil {
				c.commandUsage(c.stdout, cmd)
				return nil
			}
			return withHint(usagef("unknown help topic (%s)", argument(1)), "run 'flyte --help' for the list of commands")
		}
		c.mainUsage(c.stdout)
		return nil
	case "-v", "--version":
		args = []string{"version"}
	}
	cmd := lookup(args)
	if cmd == nil {
		return c.unknownCommand(args)
	}
	c.cmd = cmd
	rest := args[len(strings.Fields(cmd.Name)):]
	c.fs = cmd.flagSet(c)
	if err := c.fs.Parse(rest); err != nil {
		return c.flagError(err, rest, len(args)-len(rest))
	}
	if help, _ := c.fs.GetBool("help"); help {
		c.commandUsage(c.stdout, cmd)
		return nil
	}
	return cmd.Run(c, c.fs.Args())
}

// lookup finds the command named by the first one or two words of args.
func lookup(args []string) *command {
	for _, cmd := range commands {
		words := strings.Fields(cmd.Name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == cmd.Name {
			return cmd
		}
	}
	return nil
}

func (c *cli) mainUsage(w io.Writer) {
	fmt.Fprint(w, `flyte keeps secrets for tasks. Values are sealed by flyte and kept by a
store that runs as a sandboxed WebAssembly plugin; listings never show them.

Usage:
  flyte <command> [arguments] [flags]

Commands:
`)
	for _, cmd := range commands {
		fmt.Fprintf(w, "  %-15s %s\n", cmd.Name, cmd.Short)
	}
	fmt.Fprint(w, `
Run 'flyte <command> --help' for the details of a command.
Exit status: 0 on success, 1 on failure, 2 on misuse of the command line.
`)
}

func (c *cli) commandUsage(w io.Writer, cmd *command) {
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", cmd.usage(), strings.TrimSpace(cmd.Long))
	fs := cmd.flagSet(&cli{})
	// pflag writes every boolean flag as --help[=true|false]; -h needs no
	// value, so show it as a plain switch (padded to keep the columns).
	usages := strings.Replace(fs.FlagUsages(), "--help[=true|false]", "--help             ", 1)
	fmt.Fprintf(w, "\nFlags:\n%s", usages)
}

// flagSet declares every flag cmd accepts, bound to c's fields. The command line, the help text and shell
// completion all read this one declaration.
func (cmd *command) flagSet(c *cli) *pflag.FlagSet {
	fs := pflag.NewFlagSet("flyte "+cmd.Name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	if cmd.Flags != nil {
		cmd.Flags(c, fs)
	}
	fs.BoolP("help", "h", false, "show this help")
	return fs
}

// usage is the command's synopsis: "flyte NAME ARGS".
func (cmd *command) usage() string {
	return strings.TrimSpace("flyte " + cmd.Name + " " + cmd.UsageLine)
}

// Flag declarations shared by several commands.

func flagConfig(c *cli, fs *pflag.FlagSet) {
	fs.StringVarP(&c.configPath, "config", "c", "", "read configuration from `PATH` (default: $FLYTE_CONFIG, ./flyte.toml or a parent's, ~/.config/flyte/flyte.toml)")
}

func flagScope(c *cli, fs *pflag.FlagSet, what string) {
	fs.StringVarP(&c.project, "project", "p", "", what+" `PROJECT`")
	fs.StringVarP(&c.domain, "domain", "d", "", what+" `DOMAIN`")
}

// config loads the configuration once.
func (c *cli) config() (*config.Config, error) {
	if c.cfg != nil {
		return c.cfg, nil
	}
	cwd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	cfg, err := c.loadConfig(cwd) // config.go: the trust rules
	if err != nil {
		return nil, err
	}
	c.cfg = cfg
	return cfg, nil
}

// scope validates the --project and --domain flags against the
// configuration and returns the scope they name.
func (c *cli) scope() (scope.Scope, error) {
	cfg, err := c.config()
	if err != nil {
		return scope.Scope{}, err
	}
	if err := scope.ValidateProject(c.project); err != nil {
		return scope.Scope{}, given(err)
	}
	if err := scope.ValidateDomain(c.domain, cfg.Domains); err != nil {
		return scope.Scope{}, given(err)
	}
	return scope.Scope{Org: cfg.Organization, Project: c.project, Domain: c.domain}, nil
}

// engine returns the configured core, created on first use.
func (c *cli) engine() (*core.Core, error) {
	if c.core != nil {
		return c.core, nil
	}
	cfg, err := c.config()
	if err != nil {
		return nil, err
	}
	opts := core.Options{CacheDir: config.CacheDir(c.getenv), Progress: c.stderr, NativeStore: nativeStore,
		Protected: grant.Own(cfg, c.getenv), StateDir: state.Path(c.getenv)}
	if c.getenv("FLYTE_DEBUG") != "" {
		opts.Log = c.stderr
	}
	k, err := core.New(cfg, opts)
	if err != nil {
		return nil, err
	}
	c.core = k
	return k, nil
}

// argCount rejects too few or too many arguments.
func (c *cli) argCount(args []string, min, max int, names string) error {
	switch {
	case len(args) < min:
		return withHint(usagef("missing %s", names), "usage: "+c.cmd.usage())
	case len(args) > max:
		return withHint(usagef("too many arguments (%d)", len(args)), "usage: "+c.cmd.usage())
	}
	return nil
}

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/flytesecrets/flyte/host/config"
	"github.com/flytesecrets/flyte/host/core"
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
	commands = []*command{cmdCreate, cmdUpdate, cmdGet, cmdDelete, cmdRun, cmdPluginList, cmdPluginInspect, cmdPluginInstall, cmdPluginRemove, cmdPluginTest, cmdConfigTrust, cmdIdentity, cmdStoreRecipientsList, cmdStoreRecipientsAdd, cmdStoreRecipientsRemove, cmdStoreRekey, cmdStoreAccept, cmdStoreMigrate, cmdAgentStart, cmdAgentStop, cmdAgentStatus, cmdCompletion, cmdVersion}
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
	local      bool     // run --local (flyte-sdk's spelling: every flyte run is local)
	taskArgs   []string // run FILE.py: TASK and the task's arguments (pyrun.go)

	outputFormat string // -of/--output-format
	verbose      int    // -v/--verbose, repeatable
	showVersion  bool   // --version

	secret secretFlags // create and update: where the value comes from (secret.go)

	trustList   bool // config trust --list
	trustRevoke bool // config trust --revoke

	plug pluginFlags // plugin install and plugin test (plugincmd.go)

	cfg  *config.Config
	core *core.Core

	coreOpts     core.Options // what engine made the core with (agent.go sends it to the agent)
	agentCreated string       // the identity file the agent created for this command (agent.go)
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
	err := c.dispatch(args)
	c.identityCreated() // identity.go
	c.agentIdentityCreated()
	return c.report(err)
}

// printError prints err as "flyte: ..." with its "flyte: hint: ..." lines.
func (c *cli) printError(err error) {
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
	c.printError(err)
	var ue *usageError
	var ie *scope.InvalidError
	if errors.As(err, &ue) || errors.As(err, &ie) {
		return exitUsage
	}
	return exitFailure
}

func (c *cli) dispatch(args []string) error {
	if len(args) > 0 && args[0] == completeCmd { // the completion scripts' hidden entry (completion.go)
		return c.complete(args[1:])
	}
	if len(args) == 2 && args[0] == agentServeArg { // the agent's process (agent.go)
		return c.agentServe(args[1])
	}
	// Global flags may come before the command, as in flyte-sdk's flyte: they are parsed with the
	// command's own flags, as if they followed its name, and errors name their original positions.
	g := globalFlagSet(&cli{})
	lead, rest, err := parseLeading(g, args)
	if err != nil {
		return c.leadingFlagError(err, g, lead)
	}
	if f := g.Lookup("output-format"); f.Changed && !slices.Contains(outputFormats, f.Value.String()) {
		// "flyte -of get secret": the format was left out and the command taken for it.
		if v := f.Value.String(); slices.ContainsFunc(commands, func(cmd *command) bool { return strings.Fields(cmd.Name)[0] == v }) {
			return withHint(usagef("flag %s needs a value", flagNames(f)), "use one of: "+strings.Join(outputFormats, ", ")+"; for example: flyte -of json get secret")
		}
	}
	prefix, pos := lead[:len(lead)-len(rest)], make([]int, 0, len(lead))
	if n := len(prefix); n > 0 && prefix[n-1] == "--" {
		return withHint(usagef("'--' before the command (%s)", argument(n-1)), "usage: flyte [global flags] <command> [arguments] [flags]")
	}
	if len(rest) == 0 {
		switch {
		case g.Changed("version"):
			rest = []string{"version"}
		case g.Changed("help"):
			c.mainUsage(c.stdout)
			return nil
		default:
			c.mainUsage(c.stderr)
			return &usageError{"no command given"}
		}
	}
	switch rest[0] {
	case "-h", "--help", "help":
		if len(rest) > 1 && rest[0] == "help" {
			if cmd := lookup(rest[1:]); cmd != nil {
				c.commandUsage(c.stdout, cmd)
				return nil
			}
			return withHint(usagef("unknown help topic (%s)", argument(len(prefix)+1)), "run 'flyte --help' for the list of commands")
		}
		c.mainUsage(c.stdout)
		return nil
	}
	cmd := lookup(rest)
	if cmd == nil {
		return c.unknownCommand(rest, len(prefix))
	}
	c.cmd = cmd
	words := len(strings.Fields(cmd.Name))
	for i := range prefix {
		pos = append(pos, i)
	}
	for i := range rest[words:] {
		pos = append(pos, len(prefix)+words+i)
	}
	c.fs = cmd.flagSet(c)
	own := rest[words:]
	if cmd == cmdRun {
		// flyte run FILE.py TASK [task args]: what follows FILE.py is the
		// task's (pyRun), never parsed as flyte's flags.
		if i := firstArg(c.fs, own); i >= 0 && isTaskFile(own[i]) {
			own, c.taskArgs = own[:i+1], slices.Clone(own[i+1:])
		}
	}
	flags := append(slices.Clip(prefix), rewriteOF(c.fs, own)...)
	if err := c.fs.Parse(flags); err != nil {
		return c.flagError(err, flags, pos)
	}
	if help, _ := c.fs.GetBool("help"); help {
		c.commandUsage(c.stdout, cmd)
		return nil
	}
	if c.showVersion {
		return cmdVersion.Run(c, nil)
	}
	if !slices.Contains(outputFormats, c.outputFormat) {
		return withHint(usagef("unknown output format (-of/--output-format)"), "use one of: "+strings.Join(outputFormats, ", "))
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
  flyte [global flags] <command> [arguments] [flags]

Commands:
`)
	width := 15
	for _, cmd := range commands {
		width = max(width, len(cmd.Name)+1) // the longest is set apart too
	}
	for _, cmd := range commands {
		fmt.Fprintf(w, "  %-*s %s\n", width, cmd.Name, cmd.Short)
	}
	g := globalFlagSet(&cli{})
	fmt.Fprintf(w, "\nGlobal flags (before or after the command):\n%s", flagUsages(g, func(f *pflag.Flag) bool { return f.Name != "help" }))
	fmt.Fprint(w, `
Run 'flyte <command> --help' for the details of a command.
Exit status: 0 on success, 1 on failure, 2 on misuse of the command line.
`)
}

func (c *cli) commandUsage(w io.Writer, cmd *command) {
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", cmd.usage(), strings.TrimSpace(cmd.Long))
	fs := cmd.flagSet(&cli{})
	isGlobal := func(f *pflag.Flag) bool { return f.Annotations[globalFlag] != nil }
	fmt.Fprintf(w, "\nFlags:\n%s", flagUsages(fs, func(f *pflag.Flag) bool { return !isGlobal(f) }))
	fmt.Fprintf(w, "\nGlobal flags:\n%s", flagUsages(fs, isGlobal))
}

// flagUsages lists the flags of fs that keep selects, one a line, in the
// order they were declared: "  -p, --project PROJECT   usage". Unlike
// pflag's FlagUsages it writes a switch as a switch, never "[=true|false]",
// and -of as flyte-sdk spells it.
func flagUsages(fs *pflag.FlagSet, keep func(*pflag.Flag) bool) string {
	var lefts, rights []string
	fs.VisitAll(func(f *pflag.Flag) {
		if !keep(f) {
			return
		}
		varname, usage := pflag.UnquoteUsage(f)
		if f.NoOptDefVal != "" { // a switch or a counter takes no value
			varname = ""
		}
		left := "      --" + f.Name
		switch {
		case f.Name == "output-format":
			left = "  " + ofFlag + ", --" + f.Name
		case f.Shorthand != "":
			left = "  -" + f.Shorthand + ", --" + f.Name
		}
		if varname != "" {
			left += " " + varname
		}
		if f.Value.Type() == "string" && f.DefValue != "" {
			usage += fmt.Sprintf(" (default %q)", f.DefValue)
		}
		lefts, rights = append(lefts, left), append(rights, usage)
	})
	width := 0
	for _, l := range lefts {
		width = max(width, len(l))
	}
	var b strings.Builder
	for i := range lefts {
		fmt.Fprintf(&b, "%-*s   %s\n", width, lefts[i], rights[i])
	}
	return b.String()
}

// flagSet declares every flag cmd accepts, bound to c's fields: the command's own, then the global
// ones, then -h/--help. The command line, the help text and shell completion all read this one
// declaration.
func (cmd *command) flagSet(c *cli) *pflag.FlagSet {
	fs := pflag.NewFlagSet("flyte "+cmd.Name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	if cmd.Flags != nil {
		cmd.Flags(c, fs)
	}
	globalFlags(c, fs)
	fs.BoolP("help", "h", false, "show this help")
	return fs
}

// globalFlagSet holds only the flags that may precede the command's name.
func globalFlagSet(c *cli) *pflag.FlagSet {
	fs := pflag.NewFlagSet("flyte", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	fs.SetInterspersed(false) // the first argument that is not a flag is the command
	globalFlags(c, fs)
	fs.BoolP("help", "h", false, "show this help")
	return fs
}

// outputFormats are the values of -of/--output-format, as in flyte-sdk.
var outputFormats = []string{"table", "table-simple", "json", "json-raw"}

// globalFlag marks the flags globalFlags declares, which help lists apart.
const globalFlag = "flyte-global"

// ofFlag is flyte-sdk's two-letter spelling of --output-format. pflag's shorthands are one
// letter, so rewriteOF turns it into --output-format before parsing.
const ofFlag = "-of"

// globalFlags declares the flags every command accepts, before or after its name.
func globalFlags(c *cli, fs *pflag.FlagSet) {
	fs.StringVarP(&c.configPath, "config", "c", "", "read configuration from `PATH` (default: $FLYTE_CONFIG, ./flyte.toml or a parent's, ~/.config/flyte/flyte.toml)")
	fs.StringVar(&c.outputFormat, "output-format", "table", "list in `FORMAT`: "+strings.Join(outputFormats, ", "))
	fs.CountVarP(&c.verbose, "verbose", "v", "say which configuration, store and identity are used; -vv also the plugins configured")
	fs.BoolVar(&c.showVersion, "version", false, "print the version and exit")
	for _, name := range []string{"config", "output-format", "verbose", "version"} {
		_ = fs.SetAnnotation(name, globalFlag, []string{"true"})
	}
}

// parseLeading parses the global flags g that come before the command in args. It returns args
// with those flags' "-of" rewritten, and only theirs (what follows the command is rewritten later
// with the command's own flags, which know that --value -of is a value), and rest, the part from the
// command on. On an error, lead is what g parsed.
func parseLeading(g *pflag.FlagSet, args []string) (lead, rest []string, err error) {
	lead = rewriteOF(g, args)
	if err := g.Parse(lead); err != nil {
		return lead, nil, err
	}
	n := len(lead) - len(g.Args())
	lead = append(lead[:n:n], args[n:]...)
	return lead, lead[n:], nil
}

// rewriteOF returns args with each "-of X" or "-of=X" that stands where a flag of fs may
// stand (not as another flag's value, not after "--") spelled "--output-format".
func rewriteOF(fs *pflag.FlagSet, args []string) []string {
	out := slices.Clone(args)
	walkFlags(fs, args, func(i int) {
		if a := args[i]; a == ofFlag || strings.HasPrefix(a, ofFlag+"=") {
			out[i] = "--output-format" + strings.TrimPrefix(a, ofFlag)
		}
	})
	return out
}

// usage is the command's synopsis: "flyte NAME ARGS".
func (cmd *command) usage() string {
	return strings.TrimSpace("flyte " + cmd.Name + " " + cmd.UsageLine)
}

// Flag declarations shared by several commands.

func flagScope(c *cli, fs *pflag.FlagSet, what string) {
	fs.StringVarP(&c.project, "project", "p", "", what+" `PROJECT`")
	fs.StringVarP(&c.domain, "domain", "d", "", what+" `DOMAIN`")
}

// scopeFlags returns the flags that select the scope s ("", "-p P", "-d D"
// or "-p P -d D"), so that hints can print a command the user can paste,
// such as `flyte delete secret KEY -p P`. A name that breaks the name rule
// is quoted, so that a scope read from a store never puts control
// characters or look-alike separators on a terminal.
func scopeFlags(s scope.Scope) string {
	var f []string
	if s.Project != "" {
		f = append(f, "-p "+shownName(s.Project))
	}
	if s.Domain != "" {
		f = append(f, "-d "+shownName(s.Domain))
	}
	return strings.Join(f, " ")
}

// shownName is a project or domain name as is when it keeps the name rule,
// and quoted otherwise.
func shownName(name string) string {
	if scope.ValidateName("name", name) == nil {
		return name
	}
	return strconv.Quote(name)
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
		Protected: core.Protected(cfg, c.getenv), StateDir: state.Path(c.getenv), OneShot: true}
	if c.getenv("FLYTE_DEBUG") != "" {
		opts.Log = c.stderr
	}
	c.useIdentity(cfg, &opts) // identity.go
	c.verboseEngine(cfg, opts)
	k, err := core.New(cfg, opts)
	if err != nil {
		return nil, err
	}
	c.core, c.coreOpts = k, opts
	return k, nil
}

// buffered runs write with a buffer over standard output, flushed after:
// a listing is then a few large writes rather than one per cell (a table
// of 1,044 secrets took 13,086 write calls). What the command prints on
// standard error afterwards still comes after the listing.
func (c *cli) buffered(write func(w io.Writer) error) error {
	b := bufio.NewWriterSize(c.stdout, 64<<10)
	err := write(b)
	if ferr := b.Flush(); err == nil {
		err = ferr
	}
	return err
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

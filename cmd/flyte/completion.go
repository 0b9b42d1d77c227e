package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/flytesecrets/flyte/host/core"
	"github.com/flytesecrets/flyte/host/scope"
)

var cmdCompletion = &command{
	Name:      "completion",
	UsageLine: "bash|zsh|fish",
	Short:     "print a shell completion script",
	Long: `
Completion prints a script that teaches a shell to complete flyte's
commands, flags, flag values, secret keys, environment names, projects and
domains. Load it in your shell's startup file:

  bash:  source <(flyte completion bash)            (in ~/.bashrc)
  zsh:   source <(flyte completion zsh)             (in ~/.zshrc, after compinit)
  fish:  flyte completion fish | source             (in ~/.config/fish/config.fish)

or save it where the shell looks for completions, for instance
flyte completion fish > ~/.config/fish/completions/flyte.fish.

To complete, the script runs flyte, which reads the configuration as every
command does (a flyte.toml found from the working directory that you have
not trusted contributes only its organization, domains and environments) and
lists the names of secrets and projects in the store without opening or
checking any value: it needs no identity and creates nothing but the plugin
compile cache.
Names that are not valid keys or projects are never offered. A store that
does not answer within 2 seconds is given up on, and completion offers what
it found by then.`,
	Run: func(c *cli, args []string) error {
		if err := c.argCount(args, 1, 1, "shell name"); err != nil {
			return err
		}
		script, ok := completionScripts[args[0]]
		if !ok {
			return withHint(usagef("unknown shell"), "use one of: bash, zsh, fish")
		}
		_, err := io.WriteString(c.stdout, script)
		return err
	},
}

//go:embed completion.bash
var completionBash string

//go:embed completion.zsh
var completionZsh string

//go:embed completion.fish
var completionFish string

var completionScripts = map[string]string{"bash": completionBash, "zsh": completionZsh, "fish": completionFish}

// completeCmd is the hidden entry the scripts call: flyte __complete WORD... CURRENT, the words after
// "flyte" up to the one being completed, which comes last ("" at a space). It prints one candidate a
// line, "CANDIDATE\tDESCRIPTION" or "CANDIDATE", then a last line that tells the script what else to
// do: ":files" (complete file names), ":commands" (command names) or ":none".
const completeCmd = "__complete"

// completeTimeout bounds a completion: the configuration, the store plugin and its listing. What was
// found by then is offered; completeGrace is how long the listing has to hand over a partial answer.
const (
	completeTimeout = 2 * time.Second
	completeGrace   = 250 * time.Millisecond
)

// Directives: the last line of the hidden entry's output.
const (
	dirNone     = "none"
	dirFiles    = "files"
	dirCommands = "commands"
)

// candidates collects what a completion offers, from the goroutine that finds them.
type candidates struct {
	mu        sync.Mutex
	list      []string // "CANDIDATE" or "CANDIDATE\tDESCRIPTION"
	seen      map[string]bool
	prefix    string // only candidates that start with it
	directive string
}

// add offers words that start with the prefix, once each. Only characters of flyte's names, flags and
// values get through, so nothing from a store or a file reaches a shell that it could read as syntax
// or a terminal as a control.
func (cs *candidates) add(desc string, words ...string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	desc = strings.Join(strings.Fields(desc), " ")
	for _, w := range words {
		if !strings.HasPrefix(w, cs.prefix) || !safeWord(w) || cs.seen[w] {
			continue
		}
		cs.seen[w] = true
		if desc != "" {
			w += "\t" + desc
		}
		cs.list = append(cs.list, w)
	}
}

func (cs *candidates) setDirective(d string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.directive = d
}

// safeWord reports whether w is made only of what makes keys (flag names are valid keys too),
// joined by "=": "--type=image_pull".
func safeWord(w string) bool {
	for _, part := range strings.Split(w, "=") {
		if scope.ValidateKey(part) != nil {
			return false
		}
	}
	return true
}

// complete is the hidden entry. It never fails and never writes to standard error: a completion must
// not spam the prompt. What it finds before completeTimeout is printed, the rest dropped.
func (c *cli) complete(args []string) error {
	if len(args) == 0 {
		return nil
	}
	words, cur := args[:len(args)-1], args[len(args)-1]
	cs := &candidates{seen: map[string]bool{}, prefix: cur, directive: dirNone}
	ctx, cancel := context.WithTimeout(c.ctx, completeTimeout)
	defer cancel()
	// The search runs on its own cli, which closes its own core: on a timeout this one returns while
	// the search may still hold it.
	cc := &cli{ctx: ctx, stdin: eofReader{}, stdout: io.Discard, stderr: io.Discard, getenv: c.getenv}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if cc.core != nil {
				cc.core.Close()
			}
		}()
		defer func() { _ = recover() }() // a bug here must not print a trace at the prompt
		cc.candidates(cs, words, cur)
	}()
	select {
	case <-done:
	case <-time.After(completeTimeout + completeGrace):
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, w := range cs.list {
		fmt.Fprintln(c.stdout, w)
	}
	fmt.Fprintln(c.stdout, ":"+cs.directive)
	return nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// candidates finds what may follow words where cur is being typed, reading the words as dispatch
// does: global flags, the command's name, then its flags and arguments.
func (c *cli) candidates(cs *candidates, words []string, cur string) {
	g := globalFlagSet(c)
	g.ParseErrorsAllowlist.UnknownFlags = true
	lead, rest, err := parseLeading(g, words)
	var need *pflag.ValueRequiredError
	switch {
	case errors.As(err, &need):
		c.offerValues(cs, need.GetFlag(), cur)
		return
	case err != nil:
		return
	}
	prefix := lead[:len(lead)-len(rest)]
	if len(prefix) > 0 && prefix[len(prefix)-1] == "--" {
		return
	}
	if len(rest) == 0 && strings.HasPrefix(cur, "-") {
		c.offerFlags(cs, g, cur)
		return
	}
	if len(rest) > 0 && rest[0] == "help" {
		commandWords(cs, rest[1:])
		return
	}
	cmd := lookup(rest)
	if cmd == nil {
		commandWords(cs, rest)
		return
	}
	fs := cmd.flagSet(c)
	fs.ParseErrorsAllowlist.UnknownFlags = true
	flags := append(slices.Clip(prefix), rewriteOF(fs, rest[len(strings.Fields(cmd.Name)):])...)
	err = fs.Parse(flags)
	switch {
	case errors.As(err, &need):
		c.offerValues(cs, need.GetFlag(), cur)
		return
	case err != nil:
		return
	}
	c.fs = fs
	args, dash := fs.Args(), fs.ArgsLenAtDash()
	switch {
	case dash >= 0 && cmd == cmdRun:
		// What follows -- is the task's command line.
		if len(args) == dash {
			cs.setDirective(dirCommands)
		} else {
			cs.setDirective(dirFiles)
		}
	case dash < 0 && strings.HasPrefix(cur, "-"):
		c.offerFlags(cs, fs, cur)
	default:
		c.offerArguments(cs, cmd, len(args))
	}
}

// commandWords offers the next word of the command names that start with typed, described by the
// command's Short when it is the only one that word leads to.
func commandWords(cs *candidates, typed []string) {
	next := map[string][]*command{}
	var order []string
	for _, cmd := range commands {
		w := strings.Fields(cmd.Name)
		if len(w) > len(typed) && slices.Equal(w[:len(typed)], typed) {
			if next[w[len(typed)]] == nil {
				order = append(order, w[len(typed)])
			}
			next[w[len(typed)]] = append(next[w[len(typed)]], cmd)
		}
	}
	for _, w := range order {
		desc := ""
		if len(next[w]) == 1 {
			desc = next[w][0].Short
		}
		cs.add(desc, w)
	}
}

// offerFlags offers the flags of fs not given yet (a counter, such as -v, may be given again), and
// for "--NAME=" the values of that flag.
func (c *cli) offerFlags(cs *candidates, fs *pflag.FlagSet, cur string) {
	if name, _, ok := strings.Cut(cur, "="); ok {
		if f := fs.Lookup(strings.TrimPrefix(name, "--")); strings.HasPrefix(name, "--") && f != nil {
			c.offerValues(cs, f, cur)
		} else if name == ofFlag {
			c.offerValues(cs, fs.Lookup("output-format"), cur)
		}
		return
	}
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden || f.Deprecated != "" || f.Changed && f.Value.Type() != "count" {
			return
		}
		_, usage := pflag.UnquoteUsage(f)
		cs.add(usage, "--"+f.Name)
		if f.Name == "output-format" {
			cs.add(usage, ofFlag)
		}
		if f.Shorthand != "" && f.ShorthandDeprecated == "" {
			cs.add(usage, "-"+f.Shorthand)
		}
	})
}

// offerValues offers the values of flag f; cur is "VALUE" or "--NAME=VALUE".
func (c *cli) offerValues(cs *candidates, f *pflag.Flag, cur string) {
	if f == nil {
		return
	}
	pre := ""
	if name, _, ok := strings.Cut(cur, "="); ok && strings.HasPrefix(cur, "-") {
		pre = name + "="
	}
	values := func(vs ...string) {
		for _, v := range vs {
			cs.add("", pre+v)
		}
	}
	switch f.Name {
	case "config", "from-file", "docker-config-path", "to":
		cs.setDirective(dirFiles)
	case "output-format":
		values(outputFormats...)
	case "output":
		values("table", "json")
	case "type":
		values(secretTypes...)
	case "domain":
		if cfg, err := c.config(); err == nil {
			for _, d := range cfg.Domains {
				if scope.ValidateName("domain", d) == nil {
					values(d)
				}
			}
		}
	case "project":
		cfg, err := c.config()
		if err != nil {
			return
		}
		for _, e := range cfg.Environments {
			if e.Project != "" && scope.ValidateProject(e.Project) == nil {
				values(e.Project)
			}
		}
		if n, ok := c.storeNames(false); ok {
			values(n.Projects...)
		}
	}
}

// offerArguments offers the command's argument number i.
func (c *cli) offerArguments(cs *candidates, cmd *command, i int) {
	switch {
	case i == 0 && (cmd == cmdGet || cmd == cmdUpdate || cmd == cmdDelete):
		if n, ok := c.storeNames(true); ok {
			// A key starting with '-' is valid but would read as a flag: it is not offered
			// (typed after "--", it names the key).
			cs.add("", slices.DeleteFunc(slices.Clone(n.Keys), func(k string) bool { return strings.HasPrefix(k, "-") })...)
		}
	case i == 0 && cmd == cmdRun:
		if cfg, err := c.config(); err == nil {
			for _, e := range cfg.Environments {
				if scope.ValidateName("environment name", e.Name) == nil {
					cs.add("", e.Name)
				}
			}
		}
	case i == 0 && cmd == cmdConfigTrust:
		cs.setDirective(dirFiles)
	case i == 0 && cmd == cmdCompletion:
		cs.add("", slices.Sorted(maps.Keys(completionScripts))...)
	}
}

// storeNames lists the names in the store, without opening a record (core.Core.Names). With
// byScope, the listing keeps the scope that -p and -d name, when they were given and are valid. A
// partial listing (the deadline came first) is still an answer.
func (c *cli) storeNames(byScope bool) (core.Names, bool) {
	k, err := c.engine()
	if err != nil {
		return core.Names{}, false
	}
	var req core.NamesRequest
	if byScope && c.fs != nil {
		if c.fs.Changed("project") && scope.ValidateProject(c.project) == nil {
			req.Project = &c.project
		}
		if c.fs.Changed("domain") && scope.ValidateName("domain", c.domain) == nil {
			req.Domain = &c.domain
		}
	}
	n, _ := k.Names(c.ctx, req) // what a failed listing found is still offered
	return n, true
}

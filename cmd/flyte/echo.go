package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/flytesecrets/flyte/host/scope"
	"github.com/flytesecrets/flyte/host/suggest"
	"github.com/spf13/pflag"
)

// flyte never repeats an argument it rejects. A value typed where a flag,
// a command, a key or a project was expected ("-pHunter2", "--Hunter2",
// "flyte Hunter2") would otherwise land on the terminal, in CI logs and in
// bug reports. Errors say which flag or which argument (by its position,
// counted from 1 after "flyte") was wrong and the rule it breaks; hints may
// name valid choices (commands, flags, domains, environments, existing
// keys), which are flyte's words, never the user's.

// argument names the position of args[i], where args are flyte's arguments.
func argument(i int) string { return fmt.Sprintf("argument %d", i+1) }

// flagNames is how errors name a flag: "-p/--project" or "--from-file".
func flagNames(f *pflag.Flag) string {
	if f.Name == "output-format" {
		return ofFlag + "/--output-format"
	}
	if f.Shorthand != "" {
		return "-" + f.Shorthand + "/--" + f.Name
	}
	return "--" + f.Name
}

// given says which flag an invalid project or domain came from.
func given(err error) error {
	var ie *scope.InvalidError
	if errors.As(err, &ie) {
		switch ie.What {
		case "project name":
			return scope.At(err, "-p/--project")
		case "domain":
			return scope.At(err, "-d/--domain")
		}
	}
	return err
}

// keyGiven says that an invalid key was the KEY argument.
func keyGiven(err error) error { return scope.At(err, "argument KEY") }

// flagError reports a flag that does not parse, naming the flag when it is
// one of the command's and the argument's position when it is not. flags
// are the arguments parsed as the command's; flags[i] was flyte's argument
// pos[i].
func (c *cli) flagError(err error, flags []string, pos []int) error {
	usage := "run 'flyte " + c.cmd.Name + " --help' for usage"
	var (
		vr *pflag.ValueRequiredError
		iv *pflag.InvalidValueError
		ne *pflag.NotExistError
	)
	switch {
	case errors.As(err, &vr):
		return withHint(usagef("flag %s needs a value", flagNames(vr.GetFlag())), usage)
	case errors.As(err, &iv):
		return withHint(usagef("invalid value for %s: %s", flagNames(iv.GetFlag()), valueRule(iv.GetFlag())), usage)
	}
	msg := "unknown flag"
	var se *pflag.InvalidSyntaxError
	if errors.As(err, &se) {
		msg = "bad flag syntax"
	}
	if i := unknownFlagArg(c.fs, flags); i >= 0 {
		msg += " (" + argument(pos[i]) + ")"
	}
	var hints []string
	if errors.As(err, &ne) && ne.GetSpecifiedShortnames() == "" {
		var names []string
		c.fs.VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
		if s := suggest.Closest(ne.GetSpecifiedName(), names); s != "" {
			hints = append(hints, "did you mean --"+s+"?")
		}
	}
	if c.cmd.Name == "create secret" || c.cmd.Name == "update secret" {
		hints = append(hints, "a value that starts with '-' goes after '--': flyte "+c.cmd.Name+" KEY -- VALUE, or pipe it on standard input")
	}
	return withHint(usagef("%s", msg), append(hints, usage)...)
}

// valueRule is what a flag's value must be.
func valueRule(f *pflag.Flag) string {
	switch f.Value.Type() {
	case "bool":
		return "must be true or false"
	case "uint", "uint8", "uint16", "uint32", "uint64":
		return "must be a non-negative integer"
	case "int", "int8", "int16", "int32", "int64":
		return "must be an integer"
	case "duration":
		return "must be a duration such as 5s or 1m30s"
	}
	return "not a valid " + f.Value.Type()
}

// unknownFlagArg returns the index in args of the first argument that
// pflag cannot parse as flags of fs, or -1, reading them as pflag does:
// "--" ends the flags, "--name=value" and "-abc" clusters, a flag that
// takes a value consumes the rest of its cluster or the next argument.
func unknownFlagArg(fs *pflag.FlagSet, args []string) int {
	takesValue := func(f *pflag.Flag) bool { return f.NoOptDefVal == "" }
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return -1
		case len(a) < 2 || a[0] != '-':
			continue
		case a[1] == '-':
			name, _, hasValue := strings.Cut(a[2:], "=")
			f := fs.Lookup(name)
			if name == "" || name[0] == '-' || name[0] == '=' || f == nil {
				return i
			}
			if !hasValue && takesValue(f) {
				i++
			}
		default:
			sh := a[1:]
			for j := 0; j < len(sh); j++ {
				if sh[j] == '=' && j == 0 {
					return i
				}
				f := fs.ShorthandLookup(sh[j : j+1])
				if f == nil {
					return i
				}
				if takesValue(f) {
					if j+1 == len(sh) {
						i++
					}
					break
				}
			}
		}
	}
	return -1
}

// leadingFlagError reports a flag before the command's name that does not
// parse: one of another command's flags, or no flag at all.
func (c *cli) leadingFlagError(err error, g *pflag.FlagSet, lead []string) error {
	var (
		vr *pflag.ValueRequiredError
		iv *pflag.InvalidValueError
	)
	switch {
	case errors.As(err, &vr):
		return withHint(usagef("flag %s needs a value", flagNames(vr.GetFlag())), "run 'flyte --help' for usage")
	case errors.As(err, &iv):
		return withHint(usagef("invalid value for %s: %s", flagNames(iv.GetFlag()), valueRule(iv.GetFlag())), "run 'flyte --help' for usage")
	}
	i := unknownFlagArg(g, lead)
	if i < 0 {
		i = 0
	}
	if f := anyFlag(lead[i]); f != "" {
		return withHint(usagef("flag %s goes after the command", f), "usage: flyte [global flags] <command> [arguments] [flags]; run 'flyte --help' for the list of commands")
	}
	return withHint(usagef("unknown flag (%s)", argument(i)), "run 'flyte --help' for the global flags and the list of commands")
}

// walkFlags calls visit with the index of each argument that stands where
// a flag of fs may stand, reading args as pflag does (see unknownFlagArg);
// "-of" takes a value as --output-format does.
func walkFlags(fs *pflag.FlagSet, args []string, visit func(i int)) {
	walkArgs(fs, args, visit, func(int) bool { return true })
}

// firstArg is the index in args of the first argument that is neither a
// flag of fs nor a flag's value, or -1 (none, or "--" first).
func firstArg(fs *pflag.FlagSet, args []string) int {
	first := -1
	walkArgs(fs, args, func(int) {}, func(i int) bool { first = i; return false })
	return first
}

// walkArgs is walkFlags that also calls arg with the index of each
// argument that is not a flag or a flag's value, until arg returns false.
func walkArgs(fs *pflag.FlagSet, args []string, visit func(i int), arg func(i int) bool) {
	takesValue := func(f *pflag.Flag) bool { return f != nil && f.NoOptDefVal == "" }
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return
		case len(a) < 2 || a[0] != '-':
			if !arg(i) {
				return
			}
			continue
		}
		visit(i)
		switch {
		case a == ofFlag:
			i++
		case a[1] == '-':
			name, _, hasValue := strings.Cut(a[2:], "=")
			if !hasValue && takesValue(fs.Lookup(name)) {
				i++
			}
		default:
			for j := 1; j < len(a); j++ {
				f := fs.ShorthandLookup(a[j : j+1])
				if f == nil || a[j] == '=' {
					break
				}
				if takesValue(f) {
					if j+1 == len(a) {
						i++
					}
					break
				}
			}
		}
	}
}

// unknownCommand reports args that name no command; they were flyte's
// arguments from offset on.
func (c *cli) unknownCommand(args []string, offset int) error {
	verb := args[0]
	if strings.HasPrefix(verb, "-") {
		if f := anyFlag(verb); f != "" {
			return withHint(usagef("flag %s goes after the command", f), "usage: flyte <command> [arguments] [flags]; run 'flyte --help' for the list of commands")
		}
		return withHint(usagef("unknown flag (%s)", argument(offset)), "flags follow the command: run 'flyte --help' for the list of commands")
	}
	// The group: the longest run of args that begins names of commands
	// with words after it ("store", "store recipients").
	group := []string{verb}
	for len(group) < len(args) && len(groupCommands(append(slices.Clip(group), args[len(group)]))) > 0 {
		group = append(group, args[len(group)])
	}
	if nouns := groupCommands(group); len(nouns) > 0 {
		n := len(group)
		if len(args) == n+1 && (args[n] == "--help" || args[n] == "-h") {
			verbUsage(c.stdout, group)
			return nil
		}
		if len(args) == n || strings.HasPrefix(args[n], "-") {
			return withHint(usagef("%s what?", strings.Join(group, " ")), didYouMean(nouns, n))
		}
		return withHint(usagef("unknown command (%s)", argument(offset+n)), didYouMean(nouns, n))
	}
	var nouns []string
	var verbs []string
	for _, cmd := range commands {
		verbs = append(verbs, strings.Fields(cmd.Name)[0])
	}
	if v := suggest.Closest(verb, verbs); v != "" {
		for _, cmd := range commands {
			if strings.Fields(cmd.Name)[0] == v {
				nouns = append(nouns, "flyte "+cmd.Name)
			}
		}
		return withHint(usagef("unknown command (%s)", argument(offset)), didYouMean(nouns, 1))
	}
	return withHint(usagef("unknown command (%s)", argument(offset)), "run 'flyte --help' for the list of commands")
}

// groupCommands are "flyte NAME" for every command whose name has the
// words of group and more after them.
func groupCommands(group []string) []string {
	var out []string
	for _, cmd := range commands {
		if w := strings.Fields(cmd.Name); len(w) > len(group) && slices.Equal(w[:len(group)], group) {
			out = append(out, "flyte "+cmd.Name)
		}
	}
	return out
}

// verbUsage is "flyte VERB --help" (or "flyte store recipients --help"):
// the commands of the group, aligned.
func verbUsage(w io.Writer, group []string) {
	g := strings.Join(group, " ")
	cmds := groupCommands(group)
	width := 15
	for _, c := range cmds {
		width = max(width, len(c)-len("flyte ")+1) // a space more than the longest
	}
	fmt.Fprintf(w, "Usage: flyte %s <command> [arguments] [flags]\n\nCommands:\n", g)
	for _, cmd := range commands {
		if slices.Contains(cmds, "flyte "+cmd.Name) {
			fmt.Fprintf(w, "  %-*s %s\n", width, cmd.Name, cmd.Short)
		}
	}
	fmt.Fprintf(w, "\nRun 'flyte %s <command> --help' for the details of a command.\n", g)
}

// didYouMean suggests commands of a group of n words: "did you mean flyte
// config trust?", or for several "did you mean flyte plugin list, inspect
// or test?" (each after the first without "flyte" and the group's words).
func didYouMean(cmds []string, n int) string {
	if len(cmds) <= 2 {
		return "did you mean " + strings.Join(cmds, " or ") + "?"
	}
	rest := make([]string, 0, len(cmds)-1)
	for _, c := range cmds[1:] {
		rest = append(rest, strings.Join(strings.Fields(c)[1+n:], " "))
	}
	return "did you mean " + cmds[0] + ", " + strings.Join(rest[:len(rest)-1], ", ") + " or " + rest[len(rest)-1] + "?"
}

// anyFlag returns how errors name the flag of some command that arg (such
// as "-p", "--project" or "--project=x") spells, or "".
func anyFlag(arg string) string {
	name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
	long := strings.HasPrefix(arg, "--")
	if name == "" {
		return ""
	}
	if !long {
		name = name[:1] // -pVALUE is -p
	}
	found := ""
	for _, cmd := range commands {
		fs := pflag.NewFlagSet(cmd.Name, pflag.ContinueOnError)
		var dummy cli
		if cmd.Flags != nil {
			cmd.Flags(&dummy, fs)
		}
		f := fs.Lookup(name)
		if !long {
			f = fs.ShorthandLookup(name)
		}
		if f != nil {
			found = flagNames(f)
		}
	}
	return found
}

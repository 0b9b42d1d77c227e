package main

import (
	"errors"
	"fmt"
	"io"
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
	takesValue := func(f *pflag.Flag) bool { return f != nil && f.NoOptDefVal == "" }
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return
		case len(a) < 2 || a[0] != '-':
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
	var nouns []string
	for _, cmd := range commands {
		if w := strings.Fields(cmd.Name); len(w) == 2 && w[0] == verb {
			nouns = append(nouns, "flyte "+cmd.Name)
		}
	}
	if len(nouns) > 0 {
		if len(args) == 2 && (args[1] == "--help" || args[1] == "-h") {
			verbUsage(c.stdout, verb)
			return nil
		}
		if len(args) == 1 || strings.HasPrefix(args[1], "-") {
			return withHint(usagef("%s what?", verb), didYouMean(nouns))
		}
		return withHint(usagef("unknown command (%s)", argument(1)), didYouMean(nouns))
	}
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
		return withHint(usagef("unknown command (%s)", argument(offset)), didYouMean(nouns))
	}
	return withHint(usagef("unknown command (%s)", argument(offset)), "run 'flyte --help' for the list of commands")
}

// verbUsage is "flyte VERB --help": the commands of the verb.
func verbUsage(w io.Writer, verb string) {
	fmt.Fprintf(w, "Usage: flyte %s <command> [arguments] [flags]\n\nCommands:\n", verb)
	for _, cmd := range commands {
		if strings.Fields(cmd.Name)[0] == verb {
			fmt.Fprintf(w, "  %-15s %s\n", cmd.Name, cmd.Short)
		}
	}
	fmt.Fprintf(w, "\nRun 'flyte %s <command> --help' for the details of a command.\n", verb)
}

// didYouMean suggests commands: "did you mean flyte config trust?", or
// for several of one verb "did you mean flyte plugin list, inspect or test?".
func didYouMean(cmds []string) string {
	if len(cmds) <= 2 {
		return "did you mean " + strings.Join(cmds, " or ") + "?"
	}
	nouns := make([]string, 0, len(cmds)-1)
	for _, c := range cmds[1:] {
		nouns = append(nouns, strings.Fields(c)[2])
	}
	return "did you mean " + cmds[0] + ", " + strings.Join(nouns[:len(nouns)-1], ", ") + " or " + nouns[len(nouns)-1] + "?"
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

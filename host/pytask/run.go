package pytask

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/flytesecrets/flyte/host/config"
	"github.com/flytesecrets/flyte/host/sanitize"
	"github.com/flytesecrets/flyte/host/secrets"
)

//go:embed run.py
var runSource string

// Environment is the task's environment with the configuration's rules
// applied to its declarations (config.DeclaredEnvironment: the SDK's and
// flyte's, as for an [[environments]] entry), and the warnings they gave.
func (d *Declared) Environment(cfg *config.Config) (*config.Environment, []string, error) {
	in := make([]config.DeclaredSecret, len(d.Secrets))
	for i, s := range d.Secrets {
		in[i] = config.DeclaredSecret{Key: s.Key, Group: s.Group, AsEnvVar: s.AsEnvVar, Mount: s.Mount,
			String: s.Form == "string", At: Site(s.Path, s.Line)}
	}
	return cfg.DeclaredEnvironment(d.Env.Name, Site(d.Env.Path, d.Env.Line), in)
}

// Site is PATH:LINE, for messages (PATH made printable).
func Site(path string, line int) string {
	return sanitize.Text(path) + ":" + strconv.Itoa(line)
}

// Command is the command that runs the task of file (as given on the
// command line) in python ("python3" when empty): the bootstrap run.py,
// given by -c (never written anywhere), with the task's keyword arguments
// (Args) and where env delivers each secret, so that a return value that
// holds one is warned about. No secret's value is in it.
func Command(python, file, task string, args []byte, env *config.Environment) []string {
	if python == "" {
		python = "python3"
	}
	type check struct {
		Key  string `json:"key"`
		Env  string `json:"env,omitempty"`
		File string `json:"file,omitempty"`
	}
	checks := []check{}
	for _, s := range env.Secrets {
		switch {
		case s.RenderOnly:
		case s.Mount != "":
			checks = append(checks, check{Key: s.Key, File: s.Mount + "/" + s.Key})
		default:
			checks = append(checks, check{Key: s.Key, Env: s.AsEnvVar})
		}
	}
	c, _ := json.Marshal(checks)
	if args == nil {
		args = []byte("{}")
	}
	return []string{python, "-c", runSource, file, task, string(args), string(c)}
}

// ArgError is a task argument that is unknown, missing or not of its
// parameter's type: a usage error. It never repeats the value given.
type ArgError struct {
	Msg  string
	hint string
}

func (e *ArgError) Error() string { return e.Msg }

// Hint lists the task's parameters.
func (e *ArgError) Hint() string { return e.hint }

// Types flyte passes from the command line, as the Flyte CLI does.
var simpleTypes = map[string]string{"str": "str", "int": "int", "float": "float", "bool": "bool", "": "str"}

// paramType is the simple type of an annotation ("int", "Optional[int]",
// "int | None", "typing.Optional[int]"), whether None is allowed, and
// whether flyte can pass it at all.
func paramType(annotation string) (typ string, optional, ok bool) {
	a := strings.TrimSpace(annotation)
	for _, p := range []string{"typing.Optional[", "Optional["} {
		if strings.HasPrefix(a, p) && strings.HasSuffix(a, "]") {
			a, optional = strings.TrimSpace(a[len(p):len(a)-1]), true
		}
	}
	if l, r, found := strings.Cut(a, "|"); found {
		l, r = strings.TrimSpace(l), strings.TrimSpace(r)
		switch {
		case r == "None":
			a, optional = l, true
		case l == "None":
			a, optional = r, true
		}
	}
	typ, ok = simpleTypes[a]
	return typ, optional, ok
}

// Args turns the task arguments given after TASK into the JSON object of
// the function's keyword arguments, as the Flyte CLI reads them: --NAME
// VALUE or --NAME=VALUE for a str, int or float parameter (no annotation
// is str), --NAME (true) or --no-NAME (false) for a bool. A parameter with
// no default (and not Optional, not bool) must be given; defaults are the
// function's own.
func (t *Task) Args(args []string) ([]byte, error) {
	hint := "usage: flyte run FILE.py " + t.Name
	for _, p := range t.Params {
		typ, optional, ok := paramType(p.Annotation)
		if !ok {
			typ = "value"
		}
		switch {
		case typ == "bool":
			hint += " [--" + p.Name + "]"
		case p.HasDefault || optional:
			hint += " [--" + p.Name + " " + strings.ToUpper(typ) + "]"
		default:
			hint += " --" + p.Name + " " + strings.ToUpper(typ)
		}
	}
	if len(t.Params) == 0 {
		hint = "task " + t.Name + " takes no arguments"
	}
	bad := func(format string, a ...any) error { return &ArgError{Msg: fmt.Sprintf(format, a...), hint: hint} }
	find := func(name string) *Param {
		for i := range t.Params {
			if t.Params[i].Name == name {
				return &t.Params[i]
			}
		}
		return nil
	}
	out := map[string]json.RawMessage{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		pos := i + 1 // the argument's position after TASK, for messages
		if !strings.HasPrefix(a, "--") || len(a) == 2 {
			return nil, bad("task argument %d is not an option: task arguments are --NAME VALUE", pos)
		}
		name, value, hasValue := strings.Cut(a[2:], "=")
		p := find(name)
		negated := false
		if p == nil && strings.HasPrefix(name, "no-") {
			if q := find(name[3:]); q != nil {
				if typ, _, _ := paramType(q.Annotation); typ == "bool" {
					p, negated = q, true
				}
			}
		}
		if p == nil {
			return nil, bad("task %s has no parameter named by task argument %d", t.Name, pos)
		}
		if _, dup := out[p.Name]; dup {
			return nil, bad("task argument --%s is given twice", p.Name)
		}
		typ, _, ok := paramType(p.Annotation)
		if !ok {
			return nil, bad("parameter %s of task %s has a type flyte cannot pass from the command line (str, int, float and bool only)", p.Name, t.Name)
		}
		if typ == "bool" {
			if hasValue {
				return nil, bad("task argument --%s is a switch: give --%s or --no-%s, without a value", p.Name, p.Name, p.Name)
			}
			out[p.Name] = json.RawMessage(strconv.FormatBool(!negated))
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				return nil, bad("task argument --%s needs a value (%s)", p.Name, typ)
			}
			i++
			value = args[i]
		}
		var v []byte
		switch typ {
		case "int":
			n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
			if err != nil {
				return nil, bad("task argument --%s must be an int", p.Name)
			}
			v = strconv.AppendInt(nil, n, 10)
		case "float":
			f, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
			if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || strings.ContainsAny(value, "xXpP_") {
				return nil, bad("task argument --%s must be a finite float", p.Name)
			}
			v = strconv.AppendFloat(nil, f, 'g', -1, 64)
			if !strings.ContainsAny(string(v), ".eE") {
				v = append(v, ".0"...) // a float in Python too, not an int
			}
		default:
			v, _ = json.Marshal(value) // json escapes what is not valid UTF-8
		}
		out[p.Name] = v
	}
	for _, p := range t.Params {
		typ, optional, _ := paramType(p.Annotation)
		if _, given := out[p.Name]; !given && !p.HasDefault && !optional && typ != "bool" {
			return nil, bad("missing task argument --%s (%s)", p.Name, typ)
		}
		if _, given := out[p.Name]; !given && !p.HasDefault && (optional || typ == "bool") {
			if typ == "bool" {
				out[p.Name] = json.RawMessage("false") // the Flyte CLI's default for a switch
			} else {
				out[p.Name] = json.RawMessage("null")
			}
		}
	}
	return json.Marshal(out)
}

// Delivery says, a line each, which secrets a task of env gets and from
// which scope (from[i] is where env.Secrets[i] resolved, in a task running
// in where), never a value: a task file from anywhere can ask for any
// secret its user can read, so the user is told before it starts.
func (d *Declared) Delivery(env *config.Environment, from []string, where string) []string {
	head := fmt.Sprintf("task %s of environment %s (%s) runs in %s", d.Task.Name, env.Name, env.File, where)
	if len(env.Secrets) == 0 {
		return []string{head + " with no secrets"}
	}
	lines := []string{head + " with these secrets:"}
	for i, s := range env.Secrets {
		src := "?"
		if i < len(from) {
			src = from[i]
		}
		to := "variable " + s.AsEnvVar
		if s.Mount != "" {
			to = "file " + s.Mount + "/" + s.Key
		}
		lines = append(lines, fmt.Sprintf("  %s from %s scope, as %s", s.Key, src, to))
	}
	return lines
}

// CallNotes says, a line each, what happens to the tasks of other
// environments the task calls: they run in its process, with its
// environment's secrets only.
func (d *Declared) CallNotes() []string {
	var out []string
	for _, c := range d.Calls {
		out = append(out, fmt.Sprintf("%s calls task %s of environment %s: it runs in this process, with the secrets of %s only, not those of %s",
			Site(d.Task.Path, c.Line), c.Task, c.Env, d.Env.Name, c.Env))
	}
	return out
}

// Resolved is where one secret of a task's environment comes from.
type Resolved struct {
	Name    string `json:"name"`
	Project string `json:"project"`
	Domain  string `json:"domain"`
	// As is where the task gets it: a variable, or a file's path.
	As      string `json:"as"`
	Missing bool   `json:"missing"`
	// Damaged says a record of it failed its check (get secret reports
	// which): the task would not start.
	Damaged bool `json:"damaged"`
}

// Resolution is, for each secret of env, the scope listed (a resolved
// listing: each key once, from the scope it resolves to) gives it, or that
// it is missing.
func Resolution(env *config.Environment, listed []secrets.Secret, damaged []secrets.Damaged) []Resolved {
	out := make([]Resolved, 0, len(env.Secrets))
	for _, s := range env.Secrets {
		r := Resolved{Name: s.Key, As: "variable " + s.AsEnvVar, Missing: true}
		switch {
		case s.Mount != "":
			r.As = "file " + s.Mount + "/" + s.Key
		case s.RenderOnly:
			r.As = "rendered only"
		}
		for _, l := range listed {
			if l.Key == s.Key {
				r.Project, r.Domain, r.Missing = l.Scope.Project, l.Scope.Domain, false
			}
		}
		for _, d := range damaged {
			if d.Key == s.Key {
				r.Damaged = true
			}
		}
		out = append(out, r)
	}
	return out
}

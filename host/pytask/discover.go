// Package pytask reads a Flyte task file: which task environment a task
// of a Python file runs in, and the secrets that environment declares with
// flyte.Secret(...) or strings, found without running any of the file
// (discover.py reads it with Python's own parser, in an isolated python3,
// and follows the imports of the project's own modules).
//
// It reports the declarations as written; the rules the Flyte SDK applies
// to them (default variable names, the one mount path, valid names) are
// the configuration's (package config), so that a secret declared in
// Python and one declared in flyte.toml can never be read differently.
package pytask

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/flytesecrets/flyte/host/sanitize"
)

//go:embed discover.py
var discoverSource string

// Limits on what discover.py may answer: a task file is small, and its
// reader is not trusted further than its output's shape.
const (
	maxOutput  = 1 << 20
	maxSecrets = 1000
	maxParams  = 256
	maxCalls   = 1000
	maxFiles   = 64
	maxString  = 4096
	// Timeout bounds reading a task file and its modules.
	Timeout = 20 * time.Second
)

// Declared is what a task file declares for one task.
type Declared struct {
	Task    Task
	Env     Env
	Secrets []Secret
	// Calls are the tasks of other environments the task calls by name:
	// they run in the task's process, with its environment's secrets only.
	Calls []Call
	// Files are the project's files read (the task's and those it imports).
	Files []string
}

// Task is the task function.
type Task struct {
	Name  string
	Path  string
	Line  int
	Async bool
	// Params are its parameters, in order; Variadic says it also takes
	// *args or **kwargs.
	Params   []Param
	Variadic bool
}

// Param is a parameter of the task function.
type Param struct {
	Name string
	// Annotation is the annotation's source text ("int", "str"), "" for none.
	Annotation string
	HasDefault bool
	// Default is a literal default's value (string, float64 or bool; nil
	// when there is none, it is None, or it is not a literal).
	Default any
}

// Env is the task's environment.
type Env struct {
	Name string
	Path string
	Line int
}

// Secret is a secret as declared: a bare string (Form "string") or a
// flyte.Secret(...) (Form "secret"), with its arguments as written (nil:
// not given, or None).
type Secret struct {
	Key      string
	Group    *string
	Mount    *string
	AsEnvVar *string
	Form     string
	Path     string
	Line     int
}

// Call is a call, in the task's body, to a task of another environment.
type Call struct {
	Task string
	Env  string
	Line int
}

// Error is a declaration flyte cannot read, at a file and line (0: the
// file as a whole), with a hint.
type Error struct {
	Path string
	Line int
	Msg  string
	hint string
}

func (e *Error) Error() string {
	at := sanitize.Text(e.Path)
	if e.Line > 0 {
		at += ":" + strconv.Itoa(e.Line)
	}
	return at + ": " + e.Msg
}

// Hint says what to do instead.
func (e *Error) Hint() string { return e.hint }

// taskName is a task's name as the command line gives it: a Python
// identifier (ASCII), so that it can be passed and printed as it is.
var taskName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// ValidTaskName reports whether name can name a task function.
func ValidTaskName(name string) bool { return taskName.MatchString(name) }

// Discover reads the declarations of task in the Python file file with
// the interpreter python ("python3" when empty), run isolated (-I: no
// PYTHON* variables, no user site; -S: no site module; -B: no .pyc
// written) with an empty environment but PATH. Nothing of the file runs.
func Discover(ctx context.Context, python, file, task string) (*Declared, error) {
	if !ValidTaskName(task) {
		return nil, errors.New("the task name is not a Python identifier")
	}
	if python == "" {
		python = "python3"
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "-I", "-S", "-B", "-c", discoverSource, abs, task)
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "LC_ALL=C.UTF-8"}
	cmd.Dir = filepath.Dir(abs)
	var out, stderr limited
	out.max, stderr.max = maxOutput, 4<<10
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err = cmd.Run()
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("reading the task file took longer than %s", Timeout)
	case errors.Is(err, exec.ErrNotFound):
		return nil, fmt.Errorf("%s is not installed (flyte reads task files with it)", python)
	case out.over:
		return nil, errors.New("reading the task file: the reader's answer is larger than 1 MiB")
	case err != nil:
		return nil, fmt.Errorf("reading the task file failed (%s): %s", sanitize.Text(err.Error()), sanitize.Text(lastLine(stderr.Bytes())))
	}
	return Parse(out.Bytes())
}

// lastLine is the last non-empty line of b (a Python traceback's error).
func lastLine(b []byte) string {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	return string(lines[len(lines)-1])
}

// limited keeps the first max bytes written to it.
type limited struct {
	bytes.Buffer
	max  int
	over bool
}

func (l *limited) Write(p []byte) (int, error) {
	if room := l.max - l.Len(); len(p) > room {
		l.over = true
		p = p[:max(0, room)]
	}
	l.Buffer.Write(p)
	return len(p), nil
}

// wire is discover.py's answer.
type wire struct {
	Task *struct {
		Name     string `json:"name"`
		Path     string `json:"path"`
		Line     int    `json:"line"`
		Async    bool   `json:"async"`
		Variadic bool   `json:"variadic"`
		Params   []struct {
			Name       string          `json:"name"`
			Annotation string          `json:"annotation"`
			HasDefault bool            `json:"has_default"`
			Default    json.RawMessage `json:"default"`
		} `json:"params"`
	} `json:"task"`
	Env *struct {
		Name string `json:"name"`
		Path string `json:"path"`
		Line int    `json:"line"`
	} `json:"env"`
	Secrets []struct {
		Key      string  `json:"key"`
		Group    *string `json:"group"`
		Mount    *string `json:"mount"`
		AsEnvVar *string `json:"as_env_var"`
		Form     string  `json:"form"`
		Path     string  `json:"path"`
		Line     int     `json:"line"`
	} `json:"secrets"`
	Calls []struct {
		Task string `json:"task"`
		Env  string `json:"env"`
		Line int    `json:"line"`
	} `json:"calls"`
	Files []string `json:"files"`
	Error *struct {
		Msg  string `json:"msg"`
		Path string `json:"path"`
		Line int    `json:"line"`
		Hint string `json:"hint"`
	} `json:"error"`
}

// Parse reads discover.py's answer b: one JSON object, either the
// declarations or an error, each field of the shape and size expected.
func Parse(b []byte) (*Declared, error) {
	if len(b) > maxOutput {
		return nil, errors.New("reading the task file: the reader's answer is larger than 1 MiB")
	}
	if err := exactKeys(b); err != nil {
		return nil, fmt.Errorf("reading the task file: malformed answer: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var w wire
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("reading the task file: malformed answer: %s", sanitize.Text(err.Error()))
	}
	if dec.More() {
		return nil, errors.New("reading the task file: malformed answer: more than one object")
	}
	bad := func(what string) (*Declared, error) {
		return nil, errors.New("reading the task file: malformed answer: " + what)
	}
	if w.Error != nil {
		if w.Task != nil || w.Env != nil || !okPath(w.Error.Path, true) || w.Error.Line < 0 || len(w.Error.Msg) > maxString ||
			len(w.Error.Hint) > maxString || w.Error.Msg == "" {
			return bad("error")
		}
		return nil, &Error{Path: w.Error.Path, Line: w.Error.Line, Msg: sanitize.Text(w.Error.Msg), hint: sanitize.Text(w.Error.Hint)}
	}
	if w.Task == nil || w.Env == nil {
		return bad("no task or environment")
	}
	if len(w.Secrets) > maxSecrets || len(w.Task.Params) > maxParams || len(w.Calls) > maxCalls || len(w.Files) > maxFiles {
		return bad("too many entries")
	}
	d := &Declared{
		Task: Task{Name: w.Task.Name, Path: w.Task.Path, Line: w.Task.Line, Async: w.Task.Async, Variadic: w.Task.Variadic},
		Env:  Env{Name: w.Env.Name, Path: w.Env.Path, Line: w.Env.Line},
	}
	if !ValidTaskName(d.Task.Name) || !okPath(d.Task.Path, false) || d.Task.Line < 1 {
		return bad("task")
	}
	if !okString(d.Env.Name) || !okPath(d.Env.Path, false) || d.Env.Line < 1 {
		return bad("environment")
	}
	for _, p := range w.Task.Params {
		if !ValidTaskName(p.Name) || len(p.Annotation) > maxString {
			return bad("parameter")
		}
		q := Param{Name: p.Name, Annotation: p.Annotation, HasDefault: p.HasDefault}
		if len(p.Default) > 0 {
			if !p.HasDefault || len(p.Default) > maxString || json.Unmarshal(p.Default, &q.Default) != nil {
				return bad("parameter default")
			}
			switch q.Default.(type) {
			case nil, string, float64, bool:
			default:
				return bad("parameter default")
			}
		}
		d.Task.Params = append(d.Task.Params, q)
	}
	for _, s := range w.Secrets {
		if !okString(s.Key) || !okOpt(s.Group) || !okOpt(s.Mount) || !okOpt(s.AsEnvVar) || !okPath(s.Path, false) || s.Line < 1 {
			return bad("secret")
		}
		switch s.Form {
		case "string":
			if s.Group != nil || s.Mount != nil || s.AsEnvVar != nil {
				return bad("secret")
			}
		case "secret":
		default:
			return bad("secret")
		}
		d.Secrets = append(d.Secrets, Secret{Key: s.Key, Group: s.Group, Mount: s.Mount, AsEnvVar: s.AsEnvVar, Form: s.Form, Path: s.Path, Line: s.Line})
	}
	for _, c := range w.Calls {
		if !ValidTaskName(c.Task) || !okString(c.Env) || c.Line < 1 {
			return bad("call")
		}
		d.Calls = append(d.Calls, Call(c))
	}
	for _, f := range w.Files {
		if !okPath(f, false) {
			return bad("file")
		}
	}
	d.Files = w.Files
	return d, nil
}

// wireKeys are the names discover.py writes; encoding/json would match
// any case and take the last of two, so exactKeys checks them first.
var wireKeys = map[string]bool{
	"task": true, "name": true, "path": true, "line": true, "async": true, "variadic": true, "params": true,
	"annotation": true, "has_default": true, "default": true, "env": true, "secrets": true, "key": true,
	"group": true, "mount": true, "as_env_var": true, "form": true, "calls": true, "files": true, "error": true,
	"msg": true, "hint": true,
}

// exactKeys checks that b is ASCII (discover.py escapes everything else)
// and that each object's keys are names discover.py writes, each once.
func exactKeys(b []byte) error {
	for _, c := range b {
		if c >= 0x80 {
			return errors.New("not ASCII")
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	type frame struct {
		object bool
		seen   map[string]bool
		key    bool // the next token of the object is a key
	}
	var stack []*frame
	for {
		t, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.key {
			if d, ok := t.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				if len(stack) > 0 {
					stack[len(stack)-1].key = true
				}
				continue
			}
			k, _ := t.(string)
			if !wireKeys[k] || top.seen[k] {
				return errors.New("unexpected or repeated field")
			}
			top.seen[k], top.key = true, false
			continue
		}
		switch t {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, seen: map[string]bool{}, key: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].key = true // a value ended: a key comes next
		}
	}
}

// okString is a declared name or key: not empty, bounded. What it holds
// is checked by the rules that apply to it (and is never printed if it
// fails them).
func okString(s string) bool { return s != "" && len(s) <= maxString }

func okOpt(s *string) bool { return s == nil || len(*s) <= maxString }

// okPath is a file discover.py read: absolute and clean (or "" when
// empty is allowed).
func okPath(p string, empty bool) bool {
	if p == "" {
		return empty
	}
	return len(p) <= maxString && filepath.IsAbs(p) && filepath.Clean(p) == p
}

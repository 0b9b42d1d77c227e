package pytask

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// python skips a test that needs python3 where there is none (CI has it).
func python(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed")
	}
}

func abs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func str(s string) *string { return &s }

// The seed's two examples, verbatim: each task, its environment, its one
// secret as written.
func TestDiscoverSeed(t *testing.T) {
	python(t)
	file := abs(t, "testdata/seed/hello.py")
	for task, want := range map[string]Secret{
		"task_1": {Key: "my_secret", AsEnvVar: str("MY_SECRET_ENV_VAR"), Form: "secret", Path: file, Line: 7},
		"task_2": {Key: "my_secret", Mount: str("/etc/flyte/secrets"), Form: "secret", Path: file, Line: 19},
	} {
		d, err := Discover(context.Background(), "", file, task)
		if err != nil {
			t.Fatalf("%s: %v", task, err)
		}
		env := map[string]string{"task_1": "env_1", "task_2": "env_2"}[task]
		if d.Task.Name != task || d.Task.Async || len(d.Task.Params) != 0 || d.Env.Name != env || d.Env.Path != file {
			t.Errorf("%s: %+v %+v", task, d.Task, d.Env)
		}
		if len(d.Secrets) != 1 || !reflect.DeepEqual(d.Secrets[0], want) {
			t.Errorf("%s: secrets %+v, want %+v", task, d.Secrets, want)
		}
		if len(d.Calls) != 0 || !reflect.DeepEqual(d.Files, []string{file}) {
			t.Errorf("%s: calls %+v files %v", task, d.Calls, d.Files)
		}
	}
}

// Environments imported from the project's own modules, clone_with,
// aliases, bare strings, lists bound to names, pathlib mounts, parameters,
// async tasks, and a call to another environment's task.
func TestDiscoverProject(t *testing.T) {
	python(t)
	main, envs := abs(t, "testdata/project/main.py"), abs(t, "testdata/project/envs/__init__.py")
	keys := []Secret{{Key: "a-b", Form: "string", Path: envs, Line: 3}, {Key: "c", AsEnvVar: str("C"), Form: "secret", Path: envs, Line: 3}}
	ta, err := Discover(context.Background(), "", main, "ta")
	if err != nil {
		t.Fatal(err)
	}
	if ta.Env.Name != "env_a" || !ta.Task.Async || !reflect.DeepEqual(ta.Secrets, keys) {
		t.Errorf("ta: %+v %+v %+v", ta.Task, ta.Env, ta.Secrets)
	}
	wantParams := []Param{{Name: "n", Annotation: "int"}, {Name: "name", Annotation: "str", HasDefault: true, Default: "x"},
		{Name: "flag", Annotation: "bool", HasDefault: true, Default: false}, {Name: "ratio", Annotation: "float", HasDefault: true, Default: 0.5}}
	if !reflect.DeepEqual(ta.Task.Params, wantParams) || ta.Task.Variadic {
		t.Errorf("ta params %+v", ta.Task.Params)
	}
	if !reflect.DeepEqual(ta.Calls, []Call{{Task: "tb", Env: "env_b", Line: 20}}) {
		t.Errorf("ta calls %+v", ta.Calls)
	}
	if !reflect.DeepEqual(ta.Files, []string{envs, main}) {
		t.Errorf("ta files %v", ta.Files)
	}
	tb, err := Discover(context.Background(), "", main, "tb")
	if err != nil || tb.Env.Name != "env_b" || !reflect.DeepEqual(tb.Secrets, keys) {
		t.Errorf("tb (clone_with keeps the secrets): %+v %v", tb, err)
	}
	tc, err := Discover(context.Background(), "", main, "tc")
	if err != nil || tc.Env.Name != "env_c" || !tc.Task.Variadic ||
		!reflect.DeepEqual(tc.Secrets, []Secret{{Key: "solo", Form: "string", Path: main, Line: 11}}) {
		t.Errorf("tc (clone_with replaces them): %+v %v", tc, err)
	}
	td, err := Discover(context.Background(), "", main, "td")
	want := []Secret{{Key: "k", Group: str("g"), Form: "secret", Path: main, Line: 14}, {Key: "x", Form: "string", Path: main, Line: 14},
		{Key: "m", Mount: str("/etc/flyte/secrets"), AsEnvVar: str("M"), Form: "secret", Path: main, Line: 14}}
	if err != nil || !reflect.DeepEqual(td.Secrets, want) {
		t.Errorf("td: %+v %v", td, err)
	}
}

// Declarations that only running the file would tell are refused at their
// file and line, with the hint to write them as literals or in flyte.toml;
// a task or function that is not there is named with the tasks there are.
func TestDiscoverRefused(t *testing.T) {
	python(t)
	file := abs(t, "testdata/dynamic/computed.py")
	main := abs(t, "testdata/project/main.py")
	for _, c := range []struct {
		file, task, want string
	}{
		{file, "t1", file + ":6: the secrets of environment env_1 are computed when the file runs"},
		{file, "t2", file + ":14: the name of this TaskEnvironment is computed when the file runs"},
		{file, "t3", file + ":26: the environment of this task is computed when the file runs"},
		{file, "t4", file + ":34: the environment of this task comes from a module that is not a file of this project"},
		{main, "helper", main + ":38: the function helper is not a task: it has no @ENV.task decorator"},
		{main, "nope", main + ": no task named nope"},
	} {
		_, err := Discover(context.Background(), "", c.file, c.task)
		var de *Error
		if !errors.As(err, &de) || err.Error() != c.want {
			t.Errorf("%s: %v, want %s", c.task, err, c.want)
			continue
		}
		if de.Hint() == "" {
			t.Errorf("%s: no hint", c.task)
		}
	}
	_, err := Discover(context.Background(), "", main, "nope")
	var de *Error
	if errors.As(err, &de) && de.Hint() != "its tasks: ta, tb, tc, td" {
		t.Errorf("hint %q", de.Hint())
	}
	if _, err := Discover(context.Background(), "", main, "no such"); err == nil || strings.Contains(err.Error(), "no such") {
		t.Errorf("an invalid task name: %v (never echoed)", err)
	}
}

// Nothing of the file runs: a file whose import would leave a mark leaves
// none.
func TestDiscoverRunsNothing(t *testing.T) {
	python(t)
	dir := t.TempDir()
	mark := filepath.Join(dir, "ran")
	src := "import flyte\nopen(" + pyQuote(mark) + ", 'w').write('x')\n" +
		"env_1 = flyte.TaskEnvironment(name='env_1', secrets='k')\n\n@env_1.task\ndef t():\n    open(" + pyQuote(mark) + ", 'w')\n"
	file := filepath.Join(dir, "task.py")
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := Discover(context.Background(), "", file, "t")
	if err != nil || len(d.Secrets) != 1 || d.Secrets[0].Key != "k" {
		t.Fatalf("%+v %v", d, err)
	}
	if _, err := os.Stat(mark); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the file ran: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("reading the file wrote in its directory: %v", entries)
	}
}

// Imports stay inside the task's project (the directory with its
// pyproject.toml, else the file's directory): a module above it, by a
// relative import or a symlink, is refused, never read for keys.
func TestDiscoverStaysInProject(t *testing.T) {
	python(t)
	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("victim/settings.py", "KEY = 'sk_live_not_yours'\n")
	write("proj/pyproject.toml", "")
	task := "import flyte\nfrom ...victim.settings import KEY\nenv_1 = flyte.TaskEnvironment(name='env_1', secrets=KEY)\n\n@env_1.task\ndef t():\n    pass\n"
	file := write("proj/pkg/task.py", task)
	_, err := Discover(context.Background(), "", file, "t")
	var de *Error
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "an import reaches a module outside the project") || strings.Contains(err.Error(), "sk_live") {
		t.Fatalf("relative import out of the project: %v", err)
	}
	if err := os.Symlink(filepath.Join(dir, "victim"), filepath.Join(dir, "proj", "pkg", "link")); err != nil {
		t.Fatal(err)
	}
	write("proj/pkg/task2.py", strings.Replace(task, "...victim.settings", "link.settings", 1))
	if _, err := Discover(context.Background(), "", filepath.Join(dir, "proj/pkg/task2.py"), "t"); !errors.As(err, &de) ||
		!strings.Contains(err.Error(), "outside the project") {
		t.Fatalf("symlink out of the project: %v", err)
	}
}

// A small file cannot make the reader multiply its work: an item of the
// secrets list is a str or a Secret (the SDK's rule), never a list.
func TestDiscoverNoBlowUp(t *testing.T) {
	python(t)
	var b strings.Builder
	b.WriteString("import flyte\nL0 = ['k'] * 1\nL0 = ['k', 'k', 'k', 'k', 'k', 'k', 'k', 'k', 'k', 'k']\n")
	for i := 1; i < 16; i++ {
		b.WriteString("L" + strconv.Itoa(i) + " = [" + strings.Repeat("L"+strconv.Itoa(i-1)+", ", 10) + "]\n")
	}
	b.WriteString("env_1 = flyte.TaskEnvironment(name='env_1', secrets=L15)\n\n@env_1.task\ndef t():\n    pass\n")
	file := filepath.Join(t.TempDir(), "task.py")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Discover(context.Background(), "", file, "t")
	if err == nil || !strings.Contains(err.Error(), "the secrets of environment env_1 are computed when the file runs") {
		t.Fatalf("%v", err)
	}
}

func pyQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "\\'") + "'" }

func TestParseRefuses(t *testing.T) {
	for name, b := range map[string]string{
		"empty":          ``,
		"two objects":    `{"error":{"msg":"m","path":"","line":0}}{}`,
		"unknown field":  `{"x":1}`,
		"no env":         `{"task":{"name":"t","path":"/a.py","line":1}}`,
		"relative path":  `{"task":{"name":"t","path":"a.py","line":1},"env":{"name":"e","path":"/a.py","line":1}}`,
		"bad task name":  `{"task":{"name":"t-1","path":"/a.py","line":1},"env":{"name":"e","path":"/a.py","line":1}}`,
		"string options": `{"task":{"name":"t","path":"/a.py","line":1},"env":{"name":"e","path":"/a.py","line":1},"secrets":[{"key":"k","form":"string","mount":"/m","path":"/a.py","line":1}]}`,
		"bad form":       `{"task":{"name":"t","path":"/a.py","line":1},"env":{"name":"e","path":"/a.py","line":1},"secrets":[{"key":"k","form":"x","path":"/a.py","line":1}]}`,
		"empty key":      `{"task":{"name":"t","path":"/a.py","line":1},"env":{"name":"e","path":"/a.py","line":1},"secrets":[{"key":"","form":"secret","path":"/a.py","line":1}]}`,
		"list default":   `{"task":{"name":"t","path":"/a.py","line":1,"params":[{"name":"a","has_default":true,"default":[1]}]},"env":{"name":"e","path":"/a.py","line":1}}`,
		"error and task": `{"task":{"name":"t","path":"/a.py","line":1},"error":{"msg":"m","path":"","line":0}}`,
		"other case":     `{"TASK":{"name":"t","path":"/a.py","line":1},"env":{"name":"e","path":"/a.py","line":1}}`,
		"repeated":       `{"task":{"name":"t","name":"u","path":"/a.py","line":1},"env":{"name":"e","path":"/a.py","line":1}}`,
		"not ASCII":      "{\"task\":{\"name\":\"t\",\"path\":\"/a\xff.py\",\"line\":1},\"env\":{\"name\":\"e\",\"path\":\"/a.py\",\"line\":1}}",
	} {
		if d, err := Parse([]byte(b)); err == nil {
			t.Errorf("%s: accepted: %+v", name, d)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"task":{"name":"t","path":"/a.py","line":1,"async":true,"params":[{"name":"a","annotation":"int","has_default":true,"default":3}]},"env":{"name":"e","path":"/a.py","line":1},"secrets":[{"key":"k","form":"secret","as_env_var":"K","path":"/a.py","line":2}],"calls":[{"task":"u","env":"f","line":3}],"files":["/a.py"]}`))
	f.Add([]byte(`{"error":{"msg":"no task named t","path":"/a.py","line":0,"hint":"its tasks: u"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Parse(b)
		if err != nil {
			var de *Error
			if errors.As(err, &de) && (strings.ContainsAny(de.Msg+de.Hint(), "\x00\x1b\n") || de.Line < 0) {
				t.Fatalf("unsanitized error %q", err)
			}
			return
		}
		if !ValidTaskName(d.Task.Name) || d.Env.Name == "" || len(d.Secrets) > maxSecrets {
			t.Fatalf("accepted %+v", d)
		}
		for _, s := range d.Secrets {
			if s.Key == "" || (s.Form == "string" && (s.Mount != nil || s.AsEnvVar != nil || s.Group != nil)) {
				t.Fatalf("accepted secret %+v", s)
			}
		}
	})
}

package pytask

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/flytesecrets/flyte/host/config"
)

// Task arguments are read as the Flyte CLI reads them, typed from the
// annotations; a bad one is an *ArgError that never repeats its value.
func TestArgs(t *testing.T) {
	task := Task{Name: "t", Params: []Param{
		{Name: "n", Annotation: "int"},
		{Name: "name", Annotation: "str", HasDefault: true, Default: "x"},
		{Name: "ratio", Annotation: "float", HasDefault: true, Default: 0.5},
		{Name: "flag", Annotation: "bool"},
		{Name: "opt", Annotation: "Optional[int]"},
		{Name: "u", Annotation: "int | None"},
		{Name: "plain"},
		{Name: "items", Annotation: "list[int]", HasDefault: true},
	}}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--n", "3", "--plain", "p"}, `{"flag":false,"n":3,"opt":null,"plain":"p","u":null}`},
		{[]string{"--n=-3", "--plain=", "--flag", "--ratio", "2", "--name", "--x"}, `{"flag":true,"n":-3,"name":"--x","opt":null,"plain":"","ratio":2.0,"u":null}`},
		{[]string{"--n", "1", "--plain", "p", "--no-flag", "--opt", "4", "--ratio", "1e3"}, `{"flag":false,"n":1,"opt":4,"plain":"p","ratio":1000.0,"u":null}`},
	} {
		got, err := task.Args(tt.args)
		if err != nil || string(got) != tt.want {
			t.Errorf("%q: got %s, %v; want %s", tt.args, got, err, tt.want)
		}
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--plain", "p"}, "missing task argument --n (int)"},
		{[]string{"--n", "SECRETX", "--plain", "p"}, "task argument --n must be an int"},
		{[]string{"--n", "1", "--plain", "p", "--ratio", "nan"}, "task argument --ratio must be a finite float"},
		{[]string{"--n", "1", "--plain", "p", "--ratio", "0x1p3"}, "task argument --ratio must be a finite float"},
		{[]string{"--n", "1", "--plain", "p", "--SECRETX", "1"}, "task t has no parameter named by task argument 5"},
		{[]string{"--n", "1", "--plain", "p", "SECRETX"}, "task argument 5 is not an option: task arguments are --NAME VALUE"},
		{[]string{"--n", "1", "--plain", "p", "--flag=SECRETX"}, "task argument --flag is a switch: give --flag or --no-flag, without a value"},
		{[]string{"--n", "1", "--n", "2", "--plain", "p"}, "task argument --n is given twice"},
		{[]string{"--n", "1", "--plain"}, "task argument --plain needs a value (str)"},
		{[]string{"--n", "1", "--plain", "p", "--items", "1"}, "parameter items of task t has a type flyte cannot pass from the command line (str, int, float and bool only)"},
	} {
		_, err := task.Args(tt.args)
		var ae *ArgError
		if !errors.As(err, &ae) || ae.Msg != tt.want {
			t.Errorf("%q: got %v, want %s", tt.args, err, tt.want)
		}
		if err != nil && (strings.Contains(err.Error(), "SECRETX") || strings.Contains(ae.Hint(), "SECRETX")) {
			t.Errorf("%q: the error repeats the value: %v", tt.args, err)
		}
	}
}

// The command carries no value: where each secret goes, never what it is.
func TestCommand(t *testing.T) {
	env := &config.Environment{Name: "e", Secrets: []config.SecretRequest{
		{Key: "a", AsEnvVar: "A"}, {Key: "f", Mount: "/etc/flyte/secrets"}, {Key: "r", RenderOnly: true}}}
	argv := Command("", "t.py", "task", nil, env)
	if len(argv) != 7 || argv[0] != "python3" || argv[1] != "-c" || argv[2] != runSource || argv[3] != "t.py" || argv[4] != "task" || argv[5] != "{}" {
		t.Fatalf("argv %q", argv[:2])
	}
	var checks []map[string]string
	if err := json.Unmarshal([]byte(argv[6]), &checks); err != nil || len(checks) != 2 ||
		checks[0]["env"] != "A" || checks[1]["file"] != "/etc/flyte/secrets/f" {
		t.Fatalf("checks %s: %v", argv[6], err)
	}
}

// The bootstrap runs the seed's task with the stand-in module when the SDK
// is not importable, writing nothing next to the task file.
func TestBootstrapStandin(t *testing.T) {
	python(t)
	dir := t.TempDir()
	src, err := os.ReadFile("testdata/seed/hello.py")
	if err != nil {
		t.Fatal(err)
	}
	file := dir + "/hello.py"
	if err := os.WriteFile(file, src, 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := Discover(context.Background(), "", file, "task_1")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Domains: config.DefaultDomains(), Inject: config.InjectConfig{Env: "envinject", File: "fileinject"}}
	env, _, err := d.Environment(cfg)
	if err != nil {
		t.Fatal(err)
	}
	argv := Command("", file, "task_1", nil, env)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "MY_SECRET_ENV_VAR=v4lue", "PYTHONDONTWRITEBYTECODE=1"}
	out, err := cmd.CombinedOutput()
	if err != nil || string(out) != "My secret value is: v4lue\n" {
		t.Fatalf("%s: %v", out, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the bootstrap left files: %v", entries)
	}
}

package inject

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/flytesecrets/flyte/abi"
)

func secretsFixture() []Secret {
	return []Secret{
		{Key: "my_secret", Kind: abi.SecretString, AsEnvVar: "MY_SECRET_ENV_VAR", Injector: "envinject", Value: []byte("value-one")},
		{Key: "my_file", Kind: abi.SecretFile, Mount: abi.SecretsDir, Injector: "fileinject", Value: []byte("file\x00bytes")},
	}
}

func TestValidateGoodPlans(t *testing.T) {
	s := secretsFixture()
	a, err := Validate("envinject", s, []int{0}, &abi.Plan{Env: []abi.EnvEntry{{Name: "MY_SECRET_ENV_VAR", Ref: 1}}})
	if err != nil || len(a.Env) != 1 || string(a.Env[0].Value) != "value-one" {
		t.Fatalf("env plan: %+v %v", a, err)
	}
	a, err = Validate("fileinject", s, []int{1}, &abi.Plan{Files: []abi.FileEntry{{Path: "/etc/flyte/secrets/my_file", Ref: 2}}})
	if err != nil || len(a.Files) != 1 || a.Files[0].Mode != 0o400 || a.Files[0].Name != "my_file" {
		t.Fatalf("file plan: %+v %v", a, err)
	}
	a, err = Validate("fileinject", s, []int{1}, &abi.Plan{Files: []abi.FileEntry{{Path: "/etc/flyte/secrets/my_file", Mode: 0o440, Ref: 2}}})
	if err != nil || a.Files[0].Mode != 0o440 {
		t.Fatalf("0440: %+v %v", a, err)
	}
}

func TestValidateRefusesHostilePlans(t *testing.T) {
	s := secretsFixture()
	env := func(e ...abi.EnvEntry) *abi.Plan { return &abi.Plan{Env: e} }
	file := func(f ...abi.FileEntry) *abi.Plan { return &abi.Plan{Files: f} }
	big := []Secret{{Key: "big", Kind: abi.SecretString, AsEnvVar: "BIG", Value: make([]byte, MaxEnvValue+1)}}
	fileAsEnv := []Secret{{Key: "f", Kind: abi.SecretFile, AsEnvVar: "F", Value: []byte("v")}}
	for _, tt := range []struct {
		name    string
		secrets []Secret
		routed  []int
		plan    *abi.Plan
		want    string
	}{
		{"/etc/passwd", s, []int{1}, file(abi.FileEntry{Path: "/etc/passwd", Ref: 2}), `writes "/etc/passwd": files must lie directly under /etc/flyte/secrets`},
		{"traversal", s, []int{1}, file(abi.FileEntry{Path: "/etc/flyte/secrets/../x", Ref: 2}), `writes "/etc/flyte/secrets/../x"`},
		{"dot dot name", s, []int{1}, file(abi.FileEntry{Path: "/etc/flyte/secrets/..", Ref: 2}), `files must lie directly under`},
		{"nested", s, []int{1}, file(abi.FileEntry{Path: "/etc/flyte/secrets/a/b", Ref: 2}), `files must lie directly under`},
		{"magic link", s, []int{1}, file(abi.FileEntry{Path: "/proc/self/root/etc/flyte/secrets/x", Ref: 2}), `files must lie directly under`},
		{"setuid", s, []int{1}, file(abi.FileEntry{Path: "/etc/flyte/secrets/x", Mode: 0o4755, Ref: 2}), `gives /etc/flyte/secrets/x mode 4755: the widest allowed is 0440`},
		{"world readable", s, []int{1}, file(abi.FileEntry{Path: "/etc/flyte/secrets/x", Mode: 0o444, Ref: 2}), `mode 0444`},
		{"LD_PRELOAD", s, []int{0}, env(abi.EnvEntry{Name: "LD_PRELOAD", Ref: 1}), `sets LD_PRELOAD, which a plan may never set`},
		{"PATH", s, []int{0}, env(abi.EnvEntry{Name: "PATH", Ref: 1}), `sets PATH, which a plan may never set`},
		{"BASH_ENV", s, []int{0}, env(abi.EnvEntry{Name: "BASH_ENV", Ref: 1}), `sets BASH_ENV`},
		{"bad name", s, []int{0}, env(abi.EnvEntry{Name: "my-var", Ref: 1}), `invalid environment variable name "my-var"`},
		{"escape in name", s, []int{0}, env(abi.EnvEntry{Name: "A\x1b[2J", Ref: 1}), `invalid environment variable name`},
		{"literal value", s, []int{0}, env(abi.EnvEntry{Name: "X", Value: []byte("attacker")}), `variable X is set to a value that is not a requested secret`},
		{"not routed", s, []int{0}, env(abi.EnvEntry{Name: "X", Ref: 2}), `refers to a secret that was not routed to this injector`},
		{"unknown ref", s, []int{0}, env(abi.EnvEntry{Name: "X", Ref: 99}), `not routed`},
		{"zero ref", s, []int{0}, env(abi.EnvEntry{Name: "X"}), `not routed`},
		{"omitted", s, []int{0}, &abi.Plan{}, `leaves out secret my_secret`},
		{"twice", s, []int{0}, env(abi.EnvEntry{Name: "MY_SECRET_ENV_VAR", Ref: 1}, abi.EnvEntry{Name: "MY_SECRET_ENV_VAR", Ref: 1}), `sets MY_SECRET_ENV_VAR twice`},
		{"file secret as env", fileAsEnv, []int{0}, env(abi.EnvEntry{Name: "F", Ref: 1}), `puts file secret f in variable F: request it with mount = "/etc/flyte/secrets"`},
		{"renamed", s, []int{0}, env(abi.EnvEntry{Name: "OTHER_NAME", Ref: 1}), `puts secret my_secret in variable OTHER_NAME, but it was requested as MY_SECRET_ENV_VAR`},
		{"env for a file request", s, []int{1}, env(abi.EnvEntry{Name: "F", Ref: 2}), `puts secret my_file in variable F, but it was requested as a file`},
		{"file for an env request", s, []int{0}, file(abi.FileEntry{Path: "/etc/flyte/secrets/my_secret", Ref: 1}), `writes secret my_secret to /etc/flyte/secrets/my_secret, but it was requested as variable MY_SECRET_ENV_VAR`},
		{"file renamed", s, []int{1}, file(abi.FileEntry{Path: "/etc/flyte/secrets/other", Ref: 2}), `writes secret my_file to /etc/flyte/secrets/other, but it was requested as /etc/flyte/secrets/my_file`},
		{"delivered twice", s, []int{0}, env(abi.EnvEntry{Name: "MY_SECRET_ENV_VAR", Ref: 1}, abi.EnvEntry{Name: "COPY", Ref: 1}), `variable COPY delivers secret my_secret a second time`},
		{"too big for env", big, []int{0}, env(abi.EnvEntry{Name: "BIG", Ref: 1}), `the limit is 131072 bytes; mount it as a file`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Validate("bad", tt.secrets, tt.routed, tt.plan)
			var pe *PlanError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "injector bad: bad plan: ") {
				t.Fatalf("got %v\nwant …%s", err, tt.want)
			}
			if strings.Contains(err.Error(), "value-one") || strings.ContainsRune(err.Error(), 0x1b) {
				t.Fatal("error text leaks a value or an escape")
			}
		})
	}
}

func TestLimits(t *testing.T) {
	var secrets []Secret
	var routed []int
	plan := &abi.Plan{}
	for i := range MaxEnv + 1 {
		secrets = append(secrets, Secret{Key: "k", Kind: abi.SecretString, AsEnvVar: "V" + strings.Repeat("A", i), Value: []byte("v")})
		routed = append(routed, i)
		plan.Env = append(plan.Env, abi.EnvEntry{Name: "V" + strings.Repeat("A", i), Ref: uint32(i + 1)})
	}
	if _, err := Validate("bad", secrets, routed, plan); err == nil || !strings.Contains(err.Error(), "more than 256 variables") {
		t.Fatalf("got %v", err)
	}
}

type fakeInjector func(req *abi.PlanRequest) *abi.Plan

func (f fakeInjector) Call(_ context.Context, _ abi.Op, in []byte) ([]byte, error) {
	var req abi.PlanRequest
	if err := abi.Unmarshal(in, &req); err != nil {
		return nil, err
	}
	return abi.Marshal(f(&req)), nil
}

// Plan routes each secret to its injector, never sends values, and checks
// plans across injectors.
func TestPlanRoutes(t *testing.T) {
	s := secretsFixture()
	seen := map[string][]abi.SecretRequest{}
	load := func(name string) (Injector, error) {
		return fakeInjector(func(req *abi.PlanRequest) *abi.Plan {
			seen[name] = req.Secrets
			p := &abi.Plan{}
			for _, r := range req.Secrets {
				if r.Mount != "" {
					p.Files = append(p.Files, abi.FileEntry{Path: r.Mount + "/" + r.Key, Ref: r.Ref})
				} else {
					p.Env = append(p.Env, abi.EnvEntry{Name: r.AsEnvVar, Ref: r.Ref})
				}
			}
			return p
		}), nil
	}
	a, err := Plan(context.Background(), abi.Task{Environment: "e"}, s, load)
	if err != nil {
		t.Fatal(err)
	}
	if len(seen["envinject"]) != 1 || len(seen["fileinject"]) != 1 || seen["fileinject"][0].Size != 10 {
		t.Fatalf("routing: %+v", seen)
	}
	if len(a.Env) != 1 || len(a.Files) != 1 {
		t.Fatalf("applied: %+v", a)
	}
	// Two injectors aiming at the same variable.
	s[1] = Secret{Key: "other", Kind: abi.SecretString, AsEnvVar: "MY_SECRET_ENV_VAR", Injector: "custom", Value: []byte("v2")}
	if _, err := Plan(context.Background(), abi.Task{}, s, load); err == nil || !strings.Contains(err.Error(), "injector envinject: bad plan: sets MY_SECRET_ENV_VAR twice") {
		t.Fatalf("cross-injector duplicate: %v", err)
	}
}

// Check refuses, before any injector is loaded or asked, a request that no
// plan could fit, naming the environment and the secret and never a value.
func TestCheckBeforeAnyInjector(t *testing.T) {
	const kindImagePull = abi.SecretKind(3) // JSON text: fits a variable like a string
	task := abi.Task{Environment: "env_1"}
	for _, tt := range []struct {
		name string
		s    Secret
		want string
	}{
		{"file as env", Secret{Key: "TLS_CERT", Kind: abi.SecretFile, AsEnvVar: "TLS_CERT", Value: []byte("value-one")},
			"environment env_1: secret TLS_CERT is a file secret and cannot be an environment variable"},
		{"too big", Secret{Key: "big", Kind: abi.SecretString, AsEnvVar: "BIG", Value: make([]byte, MaxEnvValue+1)},
			"environment env_1: secret big is 131073 bytes, more than an environment variable can hold (131072)"},
		{"NUL", Secret{Key: "nul", Kind: abi.SecretString, AsEnvVar: "NUL", Value: []byte("value-one\x00")},
			"environment env_1: secret nul contains a NUL byte, which an environment variable cannot hold"},
		{"file mounted", Secret{Key: "f", Kind: abi.SecretFile, Mount: abi.SecretsDir, Value: []byte("value-one\x00")}, ""},
		{"string", Secret{Key: "s", Kind: abi.SecretString, AsEnvVar: "S", Value: bytes.Repeat([]byte("v"), MaxEnvValue)}, ""},
		{"image pull", Secret{Key: "p", Kind: kindImagePull, AsEnvVar: "P", Value: []byte(`{"auths":{}}`)}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			loaded := false
			load := func(string) (Injector, error) {
				loaded = true
				return fakeInjector(func(req *abi.PlanRequest) *abi.Plan { return &abi.Plan{} }), nil
			}
			_, err := Plan(context.Background(), task, []Secret{tt.s}, load)
			if tt.want == "" {
				if err := Check(task, []Secret{tt.s}); err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			var re *RequestError
			if !errors.As(err, &re) || err.Error() != tt.want {
				t.Fatalf("Plan = %v, want %s", err, tt.want)
			}
			if loaded {
				t.Fatal("an injector was loaded")
			}
			if strings.Contains(err.Error()+re.Hint(), "value-one") {
				t.Fatal("the error quotes the value")
			}
			wantHint := `in flyte.toml, ask for it as a file: { key = "` + tt.s.Key + `", mount = "/etc/flyte/secrets" }; the task reads /etc/flyte/secrets/` + tt.s.Key
			if re.Hint() != wantHint {
				t.Fatalf("hint = %s\nwant   %s", re.Hint(), wantHint)
			}
		})
	}
}

// Check refuses more variables, files or file bytes than a task may get,
// before any injector is asked.
func TestCheckLimits(t *testing.T) {
	task := abi.Task{Environment: "env_1"}
	many := func(n int, mount bool, size int) []Secret {
		var out []Secret
		for i := range n {
			s := Secret{Key: fmt.Sprintf("k%d", i), Kind: abi.SecretString, AsEnvVar: fmt.Sprintf("K%d", i), Value: bytes.Repeat([]byte("v"), size)}
			if mount {
				s.AsEnvVar, s.Mount = "", abi.SecretsDir
			}
			out = append(out, s)
		}
		return out
	}
	for _, tt := range []struct {
		name       string
		secrets    []Secret
		want, hint string
	}{
		{"variables", many(MaxEnv+1, false, 1), "environment env_1: asks for 257 environment variables, more than a task may get (256)",
			`ask for some as files with mount = "/etc/flyte/secrets", or bundle several values in one secret`},
		{"files", many(MaxFiles+1, true, 1), "environment env_1: asks for 257 files, more than a task may get (256)",
			"bundle several values in one file secret"},
		{"file bytes", many(65, true, 1<<20), "environment env_1: asks for files of 68157440 bytes in all, more than a task's secrets directory holds (67108864)",
			"keep large data outside flyte, and only the credentials that reach it in secrets"},
		{"at the limits", append(many(MaxEnv, false, 1), many(64, true, 1<<20)...), "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(task, tt.secrets)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var re *RequestError
			if !errors.As(err, &re) || err.Error() != tt.want || re.Hint() != tt.hint {
				t.Fatalf("Check = %v, want %s", err, tt.want)
			}
		})
	}
}

package inject

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/mask"
)

// renderInjector answers RENDER with what f returns for the request, and
// keeps the request's bytes.
type renderInjector struct {
	f   func(req *abi.RenderRequest) *abi.RenderPlan
	raw []byte
	ops []abi.Op
}

func (r *renderInjector) Call(_ context.Context, op abi.Op, in []byte) ([]byte, error) {
	r.ops = append(r.ops, op)
	r.raw = append(r.raw, in...)
	var req abi.RenderRequest
	if err := abi.Unmarshal(in, &req); err != nil {
		return nil, err
	}
	return abi.Marshal(r.f(&req)), nil
}

// rawInjector answers with fixed bytes.
type rawInjector []byte

func (r rawInjector) Call(context.Context, abi.Op, []byte) ([]byte, error) { return r, nil }

func text(s string) abi.Part { return abi.Part{Text: []byte(s)} }

func ref(r uint32, t ...abi.Transform) abi.Part { return abi.Part{Ref: r, Transforms: t} }

func group(t []abi.Transform, ps ...abi.Part) abi.Part { return abi.Part{Parts: ps, Transforms: t} }

func plan(outs ...abi.Output) *abi.RenderPlan { return &abi.RenderPlan{Outputs: outs} }

const (
	user     = "registry-user"
	password = "s3cr:t/p@ss w%rd"
)

func renderSecrets() []Secret {
	return []Secret{
		{Key: "db_user", Kind: abi.SecretString, AsEnvVar: "DB_USER", Injector: "envinject", Value: []byte("app_user")},
		{Key: "db_password", Kind: abi.SecretString, Value: []byte(password)},
		{Key: "registry_user", Kind: abi.SecretString, Value: []byte(user)},
		{Key: "registry_password", Kind: abi.SecretString, Value: []byte(password + "-reg")},
		{Key: "blob", Kind: abi.SecretString, Value: []byte(base64.StdEncoding.EncodeToString([]byte("\x00\x01binary\xff")))},
		{Key: "note", Kind: abi.SecretString, Value: []byte("line \"one\"\n\ttab\\ \u2028 \x01 é")},
	}
}

var task = abi.Task{Environment: "app", Org: "o", Project: "p", Domain: "development"}

func render(t *testing.T, secrets []Secret, outs []Output, f func(req *abi.RenderRequest) *abi.RenderPlan) (*Applied, *renderInjector, error) {
	t.Helper()
	inj := &renderInjector{f: f}
	a, err := Render(context.Background(), task, secrets, outs, func(string) (Injector, error) { return inj, nil })
	return a, inj, err
}

// The two outputs of the issue: a docker config.json whose auth is
// base64(user:password), and a DATABASE_URL with a URL-escaped password.
// Both render, the injector sees no value, and every rendered form is
// masked when the task prints it.
func TestRenderDockerAuthAndDatabaseURL(t *testing.T) {
	s := renderSecrets()
	outs := []Output{
		{Env: "DATABASE_URL", Injector: "tmpl", Refs: []int{0, 1}},
		{File: "config.json", Mode: 0o440, Injector: "tmpl", Refs: []int{2, 3}},
	}
	var got *abi.RenderRequest
	a, inj, err := render(t, s, outs, func(req *abi.RenderRequest) *abi.RenderPlan {
		got = req
		return plan(
			abi.Output{ID: 2, Parts: []abi.Part{
				text(`{"auths":{"registry.example.com":{"auth":"`),
				group([]abi.Transform{abi.Base64Encode}, ref(3), text(":"), ref(4)),
				text(`"}}}`),
			}},
			abi.Output{ID: 1, Parts: []abi.Part{
				text("postgres://"), ref(1, abi.URLEscape), text(":"), ref(2, abi.URLEscape), text("@db:5432/app"),
			}},
		)
	})
	if err != nil {
		t.Fatal(err)
	}
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + password + "-reg"))
	wantURL := "postgres://app_user:s3cr%3At%2Fp%40ss%20w%25rd@db:5432/app"
	wantJSON := `{"auths":{"registry.example.com":{"auth":"` + auth + `"}}}`
	if len(a.Env) != 1 || a.Env[0].Name != "DATABASE_URL" || string(a.Env[0].Value) != wantURL {
		t.Errorf("env = %q", a.Env)
	}
	if len(a.Files) != 1 || a.Files[0].Name != "config.json" || a.Files[0].Mode != 0o440 || string(a.Files[0].Value) != wantJSON {
		t.Errorf("files = %q", a.Files)
	}
	// The request: the user's names, the outputs' refs, and no value.
	if len(got.Outputs) != 2 || got.Outputs[0].ID != 1 || got.Outputs[0].Env != "DATABASE_URL" || got.Outputs[1].File != "config.json" ||
		fmt.Sprint(got.Outputs[1].Refs) != "[3 4]" || len(got.Secrets) != 4 || got.Secrets[1].Ref != 2 || got.Secrets[1].Size != uint32(len(password)) {
		t.Errorf("request = %+v", got)
	}
	for _, v := range s {
		if bytes.Contains(inj.raw, v.Value) {
			t.Errorf("the injector saw the value of %s", v.Key)
		}
	}
	if fmt.Sprint(inj.ops) != fmt.Sprint([]abi.Op{abi.OpRender}) {
		t.Errorf("ops = %v", inj.ops)
	}
	// Masked: the escaped password (with its lines); the joined
	// user:password, its base64 and both outputs (whole).
	if len(a.Mask) != 1 || !containsForm(a.Mask, "s3cr%3At%2Fp%40ss%20w%25rd") {
		t.Errorf("Mask = %q", a.Mask)
	}
	for _, want := range []string{user + ":" + password + "-reg", auth, wantURL, wantJSON} {
		if !containsForm(a.MaskWhole, want) {
			t.Errorf("MaskWhole lacks %q", want)
		}
	}
	for _, m := range append(a.Mask, a.MaskWhole...) {
		for _, v := range s {
			if bytes.Equal(m, v.Value) {
				t.Errorf("Mask repeats the value of %s", v.Key)
			}
		}
	}
	patterns := maskPatterns(s, a)
	var out bytes.Buffer
	w := mask.NewWriter(&out, patterns, 0)
	fmt.Fprintf(w, "auth=%s url=%s pw=%s\n", auth, wantURL, "s3cr%3At%2Fp%40ss%20w%25rd")
	w.Close()
	if out.String() != "auth=***** url=***** pw=*****\n" {
		t.Errorf("masked output = %q", out.String())
	}
	a.Wipe()
	if !bytes.Equal(a.Env[0].Value, make([]byte, len(wantURL))) || !bytes.Equal(a.Files[0].Value, make([]byte, len(wantJSON))) {
		t.Error("Wipe left rendered values")
	}
	if string(s[1].Value) != password {
		t.Error("Wipe cleared a secret's own value")
	}
}

// maskPatterns are the patterns flyte run masks for the secrets s and the
// rendered forms of a.
func maskPatterns(s []Secret, a *Applied) [][]byte {
	var patterns [][]byte
	for _, v := range s {
		patterns = append(patterns, mask.Forms(v.Value)...)
	}
	for _, m := range a.Mask {
		patterns = append(patterns, mask.Forms(m)...)
	}
	for _, m := range a.MaskWhole {
		patterns = append(patterns, mask.WholeForms(m)...)
	}
	return patterns
}

// masked is in as the task's output masked for s and a.
func masked(s []Secret, a *Applied, in string) string {
	var out bytes.Buffer
	w := mask.NewWriter(&out, maskPatterns(s, a), 0)
	w.Write([]byte(in))
	w.Close()
	return out.String()
}

func containsForm(forms [][]byte, s string) bool {
	for _, f := range forms {
		if string(f) == s {
			return true
		}
	}
	return false
}

func TestRenderTransforms(t *testing.T) {
	s := renderSecrets()
	for _, tt := range []struct {
		name  string
		parts []abi.Part
		want  string
	}{
		{"base64", []abi.Part{ref(3, abi.Base64Encode)}, base64.StdEncoding.EncodeToString([]byte(user))},
		{"base64 padded", []abi.Part{group([]abi.Transform{abi.Base64Encode}, text("ab"))}, "YWI="},
		{"base64 decode", []abi.Part{ref(5, abi.Base64Decode)}, "\x00\x01binary\xff"},
		{"round trip", []abi.Part{ref(2, abi.Base64Encode, abi.Base64Decode)}, password},
		{"json", []abi.Part{ref(6, abi.JSONString)}, `line \"one\"\n\ttab\\ \u2028 \u0001 é`},
		{"json 2029 and controls", []abi.Part{group([]abi.Transform{abi.JSONString}, text("\u2029\x1f\x7f/<"))}, `\u2029\u001f` + "\x7f/<"},
		{"url", []abi.Part{group([]abi.Transform{abi.URLEscape}, text("a-Z_0.9~ /?#[]@!$&'()*+,;=%é"))}, "a-Z_0.9~%20%2F%3F%23%5B%5D%40%21%24%26%27%28%29%2A%2B%2C%3B%3D%25%C3%A9"},
		{"nested", []abi.Part{group([]abi.Transform{abi.JSONString}, group([]abi.Transform{abi.Base64Encode}, ref(3), text(":"), ref(2)))},
			base64.StdEncoding.EncodeToString([]byte(user + ":" + password))},
		{"empty part", []abi.Part{{}, text("x"), {}}, "x"},
		{"empty", nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			outs := []Output{{File: "out", Injector: "tmpl", Refs: []int{1, 2, 4, 5}}}
			a, _, err := render(t, s, outs, func(*abi.RenderRequest) *abi.RenderPlan {
				return plan(abi.Output{ID: 1, Parts: tt.parts})
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := string(a.Files[0].Value); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
			if a.Files[0].Mode != DefaultMode {
				t.Errorf("mode = %v", a.Files[0].Mode)
			}
		})
	}
}

func TestRenderBinaryInJSON(t *testing.T) {
	_, _, err := render(t, renderSecrets(), []Output{{File: "out", Injector: "tmpl", Refs: []int{4}}}, func(*abi.RenderRequest) *abi.RenderPlan {
		return plan(abi.Output{ID: 1, Parts: []abi.Part{ref(5, abi.Base64Decode, abi.JSONString)}})
	})
	if err == nil || err.Error() != "injector tmpl: bad render: output /etc/flyte/secrets/out: secret blob is not valid UTF-8, which a JSON string cannot hold" {
		t.Fatal(err)
	}
}

// Each part holding a ref is masked before and after each transform.
func TestRenderMasksEveryForm(t *testing.T) {
	s := renderSecrets()
	outs := []Output{{File: "out", Injector: "tmpl", Refs: []int{1, 2}}}
	a, _, err := render(t, s, outs, func(*abi.RenderRequest) *abi.RenderPlan {
		return plan(abi.Output{ID: 1, Parts: []abi.Part{text("k="), group([]abi.Transform{abi.Base64Encode, abi.JSONString, abi.URLEscape}, ref(3), text("::"), ref(2))}})
	})
	if err != nil {
		t.Fatal(err)
	}
	joined := user + "::" + password
	b64 := base64.StdEncoding.EncodeToString([]byte(joined))
	url := strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D").Replace(b64)
	want := []string{joined, b64, url, "k=" + url} // JSON of base64 is base64 itself: once
	if len(a.MaskWhole) != len(want) || len(a.Mask) != 0 {
		t.Errorf("MaskWhole = %q, want %q; Mask = %q", a.MaskWhole, want, a.Mask)
	}
	for _, w := range want {
		if !containsForm(a.MaskWhole, w) {
			t.Errorf("MaskWhole lacks %q", w)
		}
	}
}

// A form made of secrets alone (a ref after each transform, or refs joined
// with no literal text) is masked with its lines: a secret base64-decoded
// into a PEM key is masked when printed line by line. A form that joins
// literal text with secrets is masked whole: a literal line of the
// template printed alone stays visible, while each form of a secret on a
// line with literal text (a JSON-escaped password) is masked.
func TestRenderMasksLinesOfSecretsOnly(t *testing.T) {
	pem := "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nbKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n"
	s := append(renderSecrets(), Secret{Key: "key", Kind: abi.SecretString, Value: []byte(base64.StdEncoding.EncodeToString([]byte(pem)))})
	outs := []Output{
		{File: "key.pem", Injector: "tmpl", Refs: []int{6}},
		{File: "app.conf", Injector: "tmpl", Refs: []int{0, 5}},
		{Env: "BOTH", Injector: "tmpl", Refs: []int{0, 6}},
	}
	a, _, err := render(t, s, outs, func(*abi.RenderRequest) *abi.RenderPlan {
		return plan(
			abi.Output{ID: 1, Parts: []abi.Part{ref(7, abi.Base64Decode)}},
			abi.Output{ID: 2, Parts: []abi.Part{
				text("[database]\nuser = \""), ref(1, abi.JSONString), text("\"\nnote = \""), ref(6, abi.JSONString), text("\"\n[tail section]\n"),
			}},
			abi.Output{ID: 3, Parts: []abi.Part{ref(1), group([]abi.Transform{abi.Base64Decode}, ref(7))}},
		)
	})
	if err != nil {
		t.Fatal(err)
	}
	note := `line \"one\"\n\ttab\\ \u2028 \u0001 é`
	for _, want := range []string{pem, note, "app_user" + pem} {
		if !containsForm(a.Mask, want) {
			t.Errorf("Mask lacks %q", want)
		}
	}
	conf := string(a.Files[1].Value)
	if len(a.MaskWhole) != 1 || string(a.MaskWhole[0]) != conf {
		t.Errorf("MaskWhole = %q", a.MaskWhole)
	}
	for in, want := range map[string]string{
		"MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n":    "*****\n",
		"[database]\n[tail section]\n":          "[database]\n[tail section]\n",
		`note = "` + note + `"` + "\n":          `note = "*****"` + "\n",
		"> " + conf:                             "> *****",
		"app_user-----BEGIN PRIVATE KEY-----\n": "*****\n",
	} {
		if got := masked(s, a, in); got != want {
			t.Errorf("%q masked is %q, want %q", in, got, want)
		}
	}
}

// A form joining literal text with secrets of fewer than mask.MinLen bytes
// in all (here an empty one) is not masked: it would be the injector's
// text alone.
func TestRenderShortSecretsLiteralNotMasked(t *testing.T) {
	s := append(renderSecrets(), Secret{Key: "empty", Kind: abi.SecretString, Value: []byte{}})
	a, _, err := render(t, s, []Output{{Env: "OUT", Injector: "tmpl", Refs: []int{6}}}, func(*abi.RenderRequest) *abi.RenderPlan {
		return plan(abi.Output{ID: 1, Parts: []abi.Part{text("PASSED: all tests"), group([]abi.Transform{abi.Base64Encode}, text("PASSED"), ref(7))}})
	})
	if err != nil || len(a.Mask) != 0 || len(a.MaskWhole) != 0 {
		t.Fatalf("%q %q %v", a.Mask, a.MaskWhole, err)
	}
	if got := masked(s, a, "PASSED: all testsUEFTU0VE\n"); got != "PASSED: all testsUEFTU0VE\n" {
		t.Errorf("masked: %q", got)
	}
}

// A literal-only output, or a literal part, is not a form of a secret.
func TestRenderLiteralNotMasked(t *testing.T) {
	s := renderSecrets()
	a, _, err := render(t, s, []Output{{Env: "GREETING", Injector: "tmpl", Refs: []int{1}}}, func(*abi.RenderRequest) *abi.RenderPlan {
		return plan(abi.Output{ID: 1, Parts: []abi.Part{group([]abi.Transform{abi.Base64Encode}, text("hello world"))}})
	})
	if err != nil || len(a.Mask) != 0 || len(a.MaskWhole) != 0 || string(a.Env[0].Value) != "aGVsbG8gd29ybGQ=" {
		t.Fatalf("%+v %v", a, err)
	}
}

// TestRenderRefusesHostilePlans: every rule of abi/SPEC.md 7.1 refuses the
// whole plan with one line that names no value.
func TestRenderRefusesHostilePlans(t *testing.T) {
	s := renderSecrets()
	outs := []Output{
		{Env: "DATABASE_URL", Injector: "tmpl", Refs: []int{0, 1}},
		{File: "config.json", Injector: "tmpl", Refs: []int{2, 3}},
	}
	ok2 := abi.Output{ID: 2, Parts: []abi.Part{ref(3)}}
	deep := text("x")
	for range MaxRenderDepth {
		deep = group(nil, deep)
	}
	notDeep := text("x")
	for range MaxRenderDepth - 1 {
		notDeep = group(nil, notDeep)
	}
	many := make([]abi.Part, MaxRenderParts)
	for i := range many {
		many[i] = text("x")
	}
	big := bytes.Repeat([]byte("x"), MaxRenderText/2+1)
	bomb := ref(2)
	for range 7 {
		bomb = group([]abi.Transform{abi.Base64Encode, abi.Base64Encode, abi.Base64Encode, abi.Base64Encode, abi.Base64Encode, abi.Base64Encode, abi.Base64Encode, abi.Base64Encode}, bomb)
	}
	for _, tt := range []struct {
		name string
		plan *abi.RenderPlan
		want string
	}{
		{"undeclared id", plan(abi.Output{ID: 9, Parts: []abi.Part{ref(2)}}, ok2), "answers output #9, which it was not asked to render"},
		{"id zero", plan(abi.Output{ID: 0}, ok2), "answers output #0, which it was not asked to render"},
		{"repeated id", plan(ok2, ok2), "answers output /etc/flyte/secrets/config.json twice"},
		{"left out", plan(ok2), "leaves out output DATABASE_URL"},
		{"not routed to output", plan(abi.Output{ID: 1, Parts: []abi.Part{ref(3)}}, ok2), "uses secret registry_user, which is not routed to output DATABASE_URL"},
		{"not routed, nested", plan(abi.Output{ID: 1, Parts: []abi.Part{group(nil, text("a"), ref(6, abi.Base64Encode))}}, ok2), "uses secret note, which is not routed to output DATABASE_URL"},
		{"not asked for", plan(abi.Output{ID: 1, Parts: []abi.Part{ref(99)}}, ok2), "references secret #99, which the task did not ask for"},
		{"text and ref", plan(abi.Output{ID: 1, Parts: []abi.Part{{Text: []byte("x"), Ref: 1}}}, ok2), "output DATABASE_URL: a part has more than one of text, ref and parts"},
		{"ref and parts", plan(abi.Output{ID: 1, Parts: []abi.Part{{Ref: 1, Parts: []abi.Part{text("x")}}}}, ok2), "output DATABASE_URL: a part has more than one of text, ref and parts"},
		{"depth bomb", plan(abi.Output{ID: 1, Parts: []abi.Part{deep}}, ok2), "output DATABASE_URL nests parts more than 8 deep"},
		{"part-count bomb", plan(abi.Output{ID: 1, Parts: many}, ok2), "has more than 4096 parts"},
		{"huge text", plan(abi.Output{ID: 1, Parts: []abi.Part{{Text: big}, {Text: big}}}, ok2), "output DATABASE_URL has more than 65536 bytes of literal text"},
		{"unknown transform", plan(abi.Output{ID: 1, Parts: []abi.Part{ref(1, 7)}}, ok2), "output DATABASE_URL: unknown transform 7"},
		{"transform zero", plan(abi.Output{ID: 1, Parts: []abi.Part{ref(1, 0)}}, ok2), "output DATABASE_URL: unknown transform 0"},
		{"too many transforms", plan(abi.Output{ID: 1, Parts: []abi.Part{ref(1, abi.JSONString, abi.JSONString, abi.JSONString, abi.JSONString, abi.JSONString, abi.JSONString, abi.JSONString, abi.JSONString, abi.JSONString)}}, ok2), "output DATABASE_URL: a part has more than 8 transforms"},
		{"bad base64", plan(abi.Output{ID: 1, Parts: []abi.Part{ref(2, abi.Base64Decode)}}, ok2), "output DATABASE_URL: secret db_password is not valid base64"},
		{"bad base64, joined", plan(abi.Output{ID: 1, Parts: []abi.Part{group([]abi.Transform{abi.Base64Decode}, ref(1), ref(2))}}, ok2), "output DATABASE_URL: the value built from secrets db_user, db_password is not valid base64"},
		{"bad base64, text", plan(abi.Output{ID: 1, Parts: []abi.Part{group([]abi.Transform{abi.Base64Decode}, text("!"))}}, ok2), "output DATABASE_URL: literal text is not valid base64"},
		{"NUL in a variable", plan(abi.Output{ID: 1, Parts: []abi.Part{text("a\x00b"), ref(1)}}, ok2), "output DATABASE_URL renders a NUL byte, which a variable cannot hold"},
		{"variable too large", plan(abi.Output{ID: 1, Parts: []abi.Part{bomb}}, ok2), "output DATABASE_URL renders more than 131072 bytes, the most a variable holds"},
		{"binary in JSON", plan(abi.Output{ID: 1, Parts: []abi.Part{ref(2)}}, abi.Output{ID: 2, Parts: []abi.Part{group([]abi.Transform{abi.Base64Decode, abi.JSONString}, text("//8="))}}), "output /etc/flyte/secrets/config.json: literal text is not valid UTF-8, which a JSON string cannot hold"},
		{"bad base64, one secret joined", plan(abi.Output{ID: 1, Parts: []abi.Part{group([]abi.Transform{abi.Base64Decode}, text("QQ=="), ref(2))}}, ok2), "output DATABASE_URL: the value built from secret db_password is not valid base64"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, _, err := render(t, s, outs, func(*abi.RenderRequest) *abi.RenderPlan { return tt.plan })
			var pe *PlanError
			if !errors.As(err, &pe) || err.Error() != "injector tmpl: bad render: "+tt.want {
				t.Fatalf("Render = %v, %v\nwant injector tmpl: bad render: %s", a, err, tt.want)
			}
			for _, v := range s {
				if strings.Contains(err.Error(), string(v.Value)) {
					t.Errorf("the error holds the value of %s", v.Key)
				}
			}
		})
	}
	// Just within the limits.
	_, _, err := render(t, s, outs, func(*abi.RenderRequest) *abi.RenderPlan {
		return plan(abi.Output{ID: 1, Parts: []abi.Part{notDeep, {Text: big[:MaxRenderText/2]}, {Text: big[:MaxRenderText/2-1]}}}, abi.Output{ID: 2, Parts: many[:MaxRenderParts-10]})
	})
	if err != nil {
		t.Fatalf("at the limits: %v", err)
	}
}

// A file output may grow to the task's file budget; intermediate values
// are bounded by it too.
func TestRenderFileLimit(t *testing.T) {
	s := []Secret{{Key: "big", Kind: abi.SecretString, Value: bytes.Repeat([]byte("v"), 50<<20)}}
	outs := []Output{{File: "a", Injector: "t", Refs: []int{0}}, {File: "b", Injector: "t", Refs: []int{0}}}
	_, _, err := render(t, s, outs, func(*abi.RenderRequest) *abi.RenderPlan {
		return plan(abi.Output{ID: 1, Parts: []abi.Part{ref(1)}}, abi.Output{ID: 2, Parts: []abi.Part{ref(1)}})
	})
	if err == nil || err.Error() != "injector t: bad render: output /etc/flyte/secrets/b renders more than 14680064 bytes, what is left of the 67108864 bytes a task's files may hold" {
		t.Fatal(err)
	}
	_, _, err = render(t, s, outs[:1], func(*abi.RenderRequest) *abi.RenderPlan {
		return plan(abi.Output{ID: 1, Parts: []abi.Part{ref(1, abi.Base64Encode, abi.Base64Decode)}})
	})
	if err == nil || !strings.Contains(err.Error(), "output /etc/flyte/secrets/a renders more than 67108864 bytes") {
		t.Fatal(err)
	}
}

// The forms a template gives the masker are bounded: alternating encodes
// and decodes keep every value small but make many forms.
func TestRenderMaskLimit(t *testing.T) {
	defer func(n int) { maxMaskBytes = n }(maxMaskBytes)
	maxMaskBytes = 1000
	s := []Secret{{Key: "k", Kind: abi.SecretString, Value: bytes.Repeat([]byte("v"), 100)}}
	var parts []abi.Part
	for i := range 20 {
		parts = append(parts, group([]abi.Transform{abi.Base64Encode}, text(fmt.Sprint(i)), ref(1)))
	}
	_, _, err := render(t, s, []Output{{File: "f", Injector: "t", Refs: []int{0}}}, func(*abi.RenderRequest) *abi.RenderPlan {
		return plan(abi.Output{ID: 1, Parts: parts})
	})
	if err == nil || err.Error() != "injector t: bad render: output /etc/flyte/secrets/f renders more forms of secrets than flyte can mask (1000 bytes)" {
		t.Fatal(err)
	}
}

func TestRenderInjectorErrors(t *testing.T) {
	s := renderSecrets()
	outs := []Output{{Env: "X", Injector: "tmpl", Refs: []int{0}}}
	load := func(i Injector) func(string) (Injector, error) {
		return func(string) (Injector, error) { return i, nil }
	}
	_, err := Render(context.Background(), task, s, outs, load(rawInjector{0x0a, 0xff}))
	if err == nil || err.Error() != "injector tmpl: sent a malformed render plan" {
		t.Errorf("malformed: %v", err)
	}
	_, err = Render(context.Background(), task, s, outs, load(errInjector{abi.Errorf(abi.InvalidArgument, "no \x1b[31mthanks")}))
	if err == nil || err.Error() != "injector tmpl: refused to render: no \\x1b[31mthanks" && err.Error() != "injector tmpl: refused to render: no \x1b[31mthanks" {
		t.Errorf("refused: %q", err)
	}
	want := errors.New("cannot load")
	if _, err = Render(context.Background(), task, s, outs, func(string) (Injector, error) { return nil, want }); err != want {
		t.Errorf("load: %v", err)
	}
}

type errInjector struct{ err error }

func (e errInjector) Call(context.Context, abi.Op, []byte) ([]byte, error) { return nil, e.err }

// Render checks again what the configuration checked, so that no caller can
// have it write where a user could not.
func TestRenderChecksOutputs(t *testing.T) {
	s := renderSecrets()
	for _, tt := range []struct {
		out  Output
		want string
	}{
		{Output{File: "../x", Injector: "t", Refs: []int{0}}, "an output's file must lie directly under /etc/flyte/secrets"},
		{Output{File: "x", Env: "X", Injector: "t", Refs: []int{0}}, "an output must be one file or one variable"},
		{Output{Injector: "t", Refs: []int{0}}, "an output must be one file or one variable"},
		{Output{File: "x", Mode: 0o644, Injector: "t", Refs: []int{0}}, "output /etc/flyte/secrets/x has mode 0644: the widest allowed is 0440"},
		{Output{Env: "LD_PRELOAD", Injector: "t", Refs: []int{0}}, "output LD_PRELOAD is a variable flyte never sets: it controls how programs are found, loaded or interpreted"},
		{Output{Env: "x-y", Injector: "t", Refs: []int{0}}, "an output's variable name is not valid"},
		{Output{Env: "X", Mode: 0o400, Injector: "t", Refs: []int{0}}, "output X is a variable, which has no mode"},
		{Output{Env: "X", Injector: "t"}, "output X uses no secret"},
		{Output{Env: "X", Injector: "t", Refs: []int{6}}, "output X uses a secret the task does not have"},
	} {
		_, _, err := render(t, s, []Output{tt.out}, func(*abi.RenderRequest) *abi.RenderPlan { t.Fatal("asked"); return nil })
		if err == nil || err.Error() != "environment app: "+tt.want {
			t.Errorf("%+v: %v", tt.out, err)
		}
	}
}

// Each injector gets only its outputs and the secrets they use.
func TestRenderRoutesByInjector(t *testing.T) {
	s := renderSecrets()
	outs := []Output{
		{Env: "A", Injector: "zeta", Refs: []int{1}},
		{Env: "B", Injector: "alpha", Refs: []int{0}},
		{File: "c", Injector: "zeta", Refs: []int{3, 1}},
	}
	var order []string
	reqs := map[string]*abi.RenderRequest{}
	load := func(name string) (Injector, error) {
		order = append(order, name)
		return &renderInjector{f: func(req *abi.RenderRequest) *abi.RenderPlan {
			reqs[name] = req
			p := &abi.RenderPlan{}
			for _, o := range req.Outputs {
				p.Outputs = append(p.Outputs, abi.Output{ID: o.ID, Parts: []abi.Part{ref(o.Refs[0])}})
			}
			return p
		}}, nil
	}
	a, err := Render(context.Background(), task, s, outs, load)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(order) != "[alpha zeta]" {
		t.Errorf("order = %v", order)
	}
	z := reqs["zeta"]
	if len(z.Outputs) != 2 || z.Outputs[0].ID != 1 || z.Outputs[1].ID != 3 || len(z.Secrets) != 2 || z.Secrets[0].Ref != 2 || z.Secrets[1].Ref != 4 {
		t.Errorf("zeta's request = %+v", z)
	}
	if len(reqs["alpha"].Secrets) != 1 || reqs["alpha"].Secrets[0].Key != "db_user" {
		t.Errorf("alpha's request = %+v", reqs["alpha"])
	}
	if len(a.Env) != 2 || a.Env[0].Name != "B" || a.Env[1].Name != "A" || len(a.Files) != 1 || string(a.Files[0].Value) != password+"-reg" {
		t.Errorf("applied = %+v", a)
	}
}

func TestJoin(t *testing.T) {
	a := &Applied{Env: []EnvVar{{Name: "A"}}, Files: []File{{Name: "f", Value: make([]byte, 10)}}}
	b := &Applied{Env: []EnvVar{{Name: "B"}}, Files: []File{{Name: "g"}}, Mask: [][]byte{[]byte("form")}, MaskWhole: [][]byte{[]byte("a form")}}
	if err := a.Join("e", b); err != nil || len(a.Env) != 2 || len(a.Files) != 2 || len(a.Mask) != 1 || len(a.MaskWhole) != 1 {
		t.Fatalf("%+v %v", a, err)
	}
	for _, tt := range []struct {
		b    *Applied
		want string
	}{
		{&Applied{Env: []EnvVar{{Name: "A"}}}, "environment e: variable A is set twice"},
		{&Applied{Files: []File{{Name: "f"}}}, "environment e: file /etc/flyte/secrets/f is written twice"},
		{&Applied{Files: []File{{Name: "h", Value: make([]byte, MaxFileBytes)}}}, "environment e: gets files of more than 67108864 bytes in all with its render outputs, more than a task's secrets directory holds"},
	} {
		if err := a.Join("e", tt.b); err == nil || err.Error() != tt.want || len(a.Env) != 2 {
			t.Errorf("Join = %v, want %s", err, tt.want)
		}
	}
	many := &Applied{}
	for i := range MaxEnv - 1 {
		many.Env = append(many.Env, EnvVar{Name: fmt.Sprintf("V%d", i)})
	}
	if err := a.Join("e", many); err == nil || err.Error() != "environment e: gets 257 environment variables with its render outputs, more than a task may get (256)" {
		t.Errorf("Join = %v", err)
	}
}

// A render-only secret (deliver = false) goes to no injector's PLAN and
// counts as no variable or file.
func TestPlanSkipsRenderOnly(t *testing.T) {
	s := renderSecrets()
	var seen []abi.SecretRequest
	a, err := Plan(context.Background(), task, s, func(name string) (Injector, error) {
		if name != "envinject" {
			t.Errorf("loaded %q", name)
		}
		return fakeInjector(func(req *abi.PlanRequest) *abi.Plan {
			seen = req.Secrets
			return &abi.Plan{Env: []abi.EnvEntry{{Name: "DB_USER", Ref: 1}}}
		}), nil
	})
	if err != nil || len(seen) != 1 || len(a.Env) != 1 {
		t.Fatalf("%+v %+v %v", seen, a, err)
	}
}

func FuzzRender(f *testing.F) {
	seeds := []*abi.RenderPlan{
		plan(abi.Output{ID: 1, Parts: []abi.Part{text("postgres://"), ref(1, abi.URLEscape), text(":"), ref(2, abi.URLEscape)}}, abi.Output{ID: 2, Parts: []abi.Part{group([]abi.Transform{abi.Base64Encode}, ref(3), text(":"), ref(4))}}),
		plan(abi.Output{ID: 1, Parts: []abi.Part{ref(5, abi.Base64Decode)}}, abi.Output{ID: 2, Parts: []abi.Part{ref(6, abi.JSONString)}}),
		plan(abi.Output{ID: 1, Parts: []abi.Part{text("[db]\npw = "), ref(2, abi.JSONString), text("\n")}}, abi.Output{ID: 2, Parts: []abi.Part{ref(3), group([]abi.Transform{abi.Base64Encode}, ref(4))}}),
		plan(abi.Output{ID: 1}, abi.Output{ID: 1}),
		plan(abi.Output{ID: 3, Parts: []abi.Part{ref(99)}}),
		plan(abi.Output{ID: 1, Parts: []abi.Part{{Text: []byte("x"), Ref: 2, Transforms: []abi.Transform{9}}}}),
	}
	for _, p := range seeds {
		f.Add(abi.Marshal(p))
	}
	f.Add([]byte{0x0a, 0x80})
	s := renderSecrets()
	outs := []Output{
		{Env: "DATABASE_URL", Injector: "tmpl", Refs: []int{0, 1, 4}},
		{File: "config.json", Injector: "tmpl", Refs: []int{2, 3, 5}},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := Render(context.Background(), task, s, outs, func(string) (Injector, error) { return rawInjector(data), nil })
		if err != nil {
			msg := err.Error()
			var pe *PlanError
			if !errors.As(err, &pe) || !strings.HasPrefix(msg, "injector tmpl: ") {
				t.Fatalf("not a plan error: %v", err)
			}
			if strings.IndexFunc(msg, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
				t.Fatalf("not one printable line: %q", msg)
			}
			for _, v := range s {
				if len(v.Value) >= 4 && strings.Contains(msg, string(v.Value)) {
					t.Fatalf("the error holds the value of %s", v.Key)
				}
			}
			return
		}
		if len(a.Env) != 1 || len(a.Files) != 1 || a.Env[0].Name != "DATABASE_URL" || a.Files[0].Name != "config.json" || a.Files[0].Mode != DefaultMode {
			t.Fatalf("applied = %+v", a)
		}
		if len(a.Env[0].Value) > MaxEnvValue || bytes.IndexByte(a.Env[0].Value, 0) >= 0 {
			t.Fatal("a variable over the limits")
		}
		// Each form is masked once per list, and a secret's own value in
		// neither (the caller masks it).
		for _, list := range [][][]byte{a.Mask, a.MaskWhole} {
			seen := map[string]bool{}
			for _, m := range list {
				if seen[string(m)] {
					t.Fatal("a form is listed twice")
				}
				seen[string(m)] = true
				for _, v := range s {
					if bytes.Equal(m, v.Value) {
						t.Fatalf("the value of %s is listed as a form", v.Key)
					}
				}
			}
		}
	})
}

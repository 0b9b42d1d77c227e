package tmplinject

import (
	"reflect"
	"strings"
	"testing"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/abi/guest"
)

func refs(keys ...string) func(string) (uint32, error) {
	return func(k string) (uint32, error) {
		for i, key := range keys {
			if key == k {
				return uint32(i + 1), nil
			}
		}
		return 0, abi.Errorf(abi.InvalidArgument, "uses secret ", k, ", which is not routed to app.conf")
	}
}

func txt(s string) abi.Part { return abi.Part{Text: []byte(s)} }

func TestParse(t *testing.T) {
	b64 := []abi.Transform{abi.Base64Encode}
	cases := []struct {
		in   string
		want []abi.Part
	}{
		{"", nil},
		{"plain text }} here", []abi.Part{txt("plain text }} here")}},
		{`user = {{secret "user"}}` + "\n", []abi.Part{txt("user = "), {Ref: 1}, txt("\n")}},
		{`{{ secret "pw" | urlescape | json }}`, []abi.Part{{Ref: 2, Transforms: []abi.Transform{abi.URLEscape, abi.JSONString}}}},
		{`a{{"{{"}}b{{"\"\\\n\t"}}`, []abi.Part{txt("a{{b\"\\\n\t")}},
		{`{{concat (secret "user") ":" (secret "pw") | base64}}`,
			[]abi.Part{{Parts: []abi.Part{{Ref: 1}, txt(":"), {Ref: 2}}, Transforms: b64}}},
		{`{{concat secret "user" ":" secret "pw" | base64}}`,
			[]abi.Part{{Parts: []abi.Part{{Ref: 1}, txt(":"), {Ref: 2}}, Transforms: b64}}},
		{`{{(secret "cert" | base64decode) | base64}}`, []abi.Part{{Ref: 3, Transforms: []abi.Transform{abi.Base64Decode, abi.Base64Encode}}}},
		{`{{concat "a" "b" (concat (secret "user") "c")}}`, []abi.Part{{Parts: []abi.Part{txt("ab"), {Parts: []abi.Part{{Ref: 1}, txt("c")}}}}}},
	}
	for _, c := range cases {
		got, err := Parse(c.in, refs("user", "pw", "cert"))
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", c.in, got, c.want)
		}
	}
}

// Errors say where and what, and never echo the text that failed.
func TestParseErrors(t *testing.T) {
	cases := map[string]string{
		`{{secret "user"`:                   `line 1, column 1: an action is not closed with }}`,
		"x\n  {{secret \"user\" | base65}}": `line 2, column 21: unknown transform (the transforms are base64, base64decode, json and urlescape)`,
		`{{secret user}}`:                   `line 1, column 10: secret needs a quoted key, as in secret "db_password"`,
		`{{secret "other"}}`:                `line 1, column 10: uses secret other, which is not routed to app.conf`,
		`{{secret "bad key!"}}`:             `line 1, column 10: a secret name that is not a valid key (letters, digits, - and _)`,
		`{{printf "x"}}`:                    `line 1, column 3: expected secret, concat, a quoted string or (`,
		`{{"a\qb"}}`:                        `line 1, column 3: unknown escape in a string (use \\, \", \n or \t)`,
		"{{\"a\nb\"}}":                      `line 1, column 3: a string is not closed on its line`,
		`{{secret "user" "pw"}}`:            `line 1, column 17: expected | or }}`,
		`{{concat}}`:                        `line 1, column 3: concat needs at least one term`,
		`{{(secret "user"}}`:                `line 1, column 17: expected )`,
		`{{` + strings.Repeat("concat (", 7) + `"x"` + strings.Repeat(")", 7) + `}}`: `line 1, column 51: concat is nested more than 6 deep`,
	}
	for in, want := range cases {
		_, err := Parse(in, refs("user", "pw"))
		if err == nil || err.Error() != want {
			t.Errorf("%q:\n got %v\nwant %s", in, err, want)
			continue
		}
		if abi.StatusOf(err) != abi.InvalidArgument {
			t.Errorf("%q: status %v", in, abi.StatusOf(err))
		}
	}
	if _, err := Parse(strings.Repeat("{{secret \"user\"}}.", MaxParts), refs("user")); err == nil || !strings.Contains(err.Error(), "more than 1024 parts") {
		t.Errorf("too many parts: %v", err)
	}
	if _, err := Parse(strings.Repeat("x", MaxText+1), refs()); err == nil || !strings.Contains(err.Error(), "more than 64 KiB of text") {
		t.Errorf("too much text: %v", err)
	}
}

func config(kv ...string) func() []byte {
	var c abi.PluginConfig
	for i := 0; i < len(kv); i += 2 {
		c.Entries = append(c.Entries, abi.KeyValue{Key: kv[i], Value: kv[i+1]})
	}
	b := abi.Marshal(&c)
	return func() []byte { return b }
}

func TestRender(t *testing.T) {
	inj := Injector{Config: config(
		"DATABASE_URL", `postgres://{{secret "db_user" | urlescape}}:{{secret "db_password" | urlescape}}@db:5432/app`,
		"template", `user = "{{secret "db_user" | json}}"`+"\n")}
	h := guest.InjectorHandler(Info, inj)
	if ops := h.Describe().Ops; !reflect.DeepEqual(ops, []abi.Op{abi.OpPlan, abi.OpRender}) {
		t.Fatalf("ops %v", ops)
	}
	req := abi.RenderRequest{
		Secrets: []abi.SecretRequest{{Ref: 4, Key: "db_user"}, {Ref: 9, Key: "db_password"}},
		Outputs: []abi.OutputRequest{{ID: 1, Env: "DATABASE_URL", Refs: []uint32{4, 9}}, {ID: 2, File: "app.conf", Refs: []uint32{4}}},
	}
	st, out := guest.Dispatch(h, abi.OpRender, abi.Marshal(&req))
	var plan abi.RenderPlan
	if st != abi.OK || abi.Unmarshal(out, &plan) != nil {
		t.Fatalf("render: %v %q", st, out)
	}
	want := abi.RenderPlan{Outputs: []abi.Output{
		{ID: 1, Parts: []abi.Part{txt("postgres://"), {Ref: 4, Transforms: []abi.Transform{abi.URLEscape}}, txt(":"),
			{Ref: 9, Transforms: []abi.Transform{abi.URLEscape}}, txt("@db:5432/app")}},
		{ID: 2, Parts: []abi.Part{txt(`user = "`), {Ref: 4, Transforms: []abi.Transform{abi.JSONString}}, txt("\"\n")}},
	}}
	if !reflect.DeepEqual(plan, want) {
		t.Fatalf("plan\n got %+v\nwant %+v", plan, want)
	}

	// The file's template may use only the secrets routed to it.
	req.Outputs[1].File, req.Outputs[1].Refs = "DB", []uint32{4}
	inj.Config = config("template", `{{secret "db_password"}}`)
	_, err := inj.Render(&abi.RenderRequest{Secrets: req.Secrets, Outputs: req.Outputs[1:]})
	if want := `template for DB: line 1, column 10: uses secret db_password, which is not routed to DB (list it in the secrets of its [[environments.render]] entry)`; err == nil || err.Error() != want {
		t.Errorf("unrouted secret: %v", err)
	}
	inj.Config = config()
	_, err = inj.Render(&abi.RenderRequest{Outputs: req.Outputs[1:]})
	if want := `no template for output DB: set template (or "DB") in the plugin's config table in flyte.toml`; err == nil || err.Error() != want {
		t.Errorf("no template: %v", err)
	}
}

func TestPlan(t *testing.T) {
	plan, err := Injector{}.Plan(&abi.PlanRequest{Secrets: []abi.SecretRequest{
		{Ref: 1, Key: "a", AsEnvVar: "A"}, {Ref: 2, Key: "b", Mount: abi.SecretsDir}}})
	if err != nil || len(plan.Env) != 1 || plan.Env[0].Name != "A" || len(plan.Files) != 1 || plan.Files[0].Path != "/etc/flyte/secrets/b" || plan.Files[0].Mode != Mode {
		t.Fatalf("plan %+v, %v", plan, err)
	}
	if _, err := (Injector{}).Plan(&abi.PlanRequest{Secrets: []abi.SecretRequest{{Ref: 1, Key: "a"}}}); abi.StatusOf(err) != abi.InvalidArgument {
		t.Fatalf("request with neither: %v", err)
	}
}

func depth(parts []abi.Part) int {
	d := 0
	for _, p := range parts {
		d = max(d, 1+depth(p.Parts))
	}
	return d
}

// FuzzParse: any template either fails with a clean error or gives parts
// within the limits, which the codec carries unchanged.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "a{{secret \"user\" | base64}}b", `{{concat (secret "user") ":" (secret "pw") | base64 | json}}`,
		`{{"\"{{"}}`, "{{ ( secret \"pw\" | base64decode ) }}", "{{concat concat concat \"x\"}}", "{{secret \"u\" | urlescape"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		parts, err := Parse(s, refs("user", "pw"))
		if err != nil {
			if st := abi.StatusOf(err); st != abi.InvalidArgument && st != abi.TooLarge {
				t.Fatalf("status %v: %v", st, err)
			}
			return
		}
		if depth(parts) > MaxDepth+1 {
			t.Fatalf("depth %d", depth(parts))
		}
		out := abi.Output{ID: 1, Parts: parts}
		var back abi.Output
		if err := abi.Unmarshal(abi.Marshal(&out), &back); err != nil {
			t.Fatalf("round trip: %v", err)
		}
	})
}

package scope

import (
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

var (
	keyRE  = regexp.MustCompile(keyPattern)
	nameRE = regexp.MustCompile(namePattern)
)

var defaultDomains = []string{"development", "staging", "production"}

func TestValidateKey(t *testing.T) {
	long129 := strings.Repeat("a", 129)
	tests := []struct {
		key  string
		want string // "" = valid
	}{
		{"MY_SECRET_KEY", ""},
		{"my-secret", ""},
		{"a", ""},
		{"0", ""},
		{"-", ""},
		{"_", ""},
		{"AbC-123_xyz", ""},
		{strings.Repeat("a", 128), ""},
		{"", "secret key is empty"},
		{long129, `invalid secret key: longer than 128 characters`},
		{"a b", `invalid secret key: must match ^[-a-zA-Z0-9_]+$`},
		{" a", `invalid secret key: must match ^[-a-zA-Z0-9_]+$`},
		{"a/b", `invalid secret key: must match ^[-a-zA-Z0-9_]+$`},
		{"../etc", `invalid secret key: must match ^[-a-zA-Z0-9_]+$`},
		{"a.b", `invalid secret key: must match ^[-a-zA-Z0-9_]+$`},
		{".", `invalid secret key: must match ^[-a-zA-Z0-9_]+$`},
		{"clé", `invalid secret key: must match ^[-a-zA-Z0-9_]+$`},
		{"ＡＢＣ", `invalid secret key: must match ^[-a-zA-Z0-9_]+$`}, // fullwidth letters are not ASCII
		{"a\nb", `invalid secret key: must match ^[-a-zA-Z0-9_]+$`},
		{"a\x1b[31m", `invalid secret key: must match ^[-a-zA-Z0-9_]+$`},
		{"a\u202eb", `invalid secret key: must match ^[-a-zA-Z0-9_]+$`}, // right-to-left override
		{"a\x00", `invalid secret key: must match ^[-a-zA-Z0-9_]+$`},
		{"\xff", `invalid secret key: must match ^[-a-zA-Z0-9_]+$`},
		{"a=b", `invalid secret key: must match ^[-a-zA-Z0-9_]+$`},
		// A long key with a bad character reports the character, the more useful of the two problems.
		{strings.Repeat("a", 200) + " ", `invalid secret key: must match ^[-a-zA-Z0-9_]+$`},
	}
	for _, tt := range tests {
		err := ValidateKey(tt.key)
		if got := errString(err); got != tt.want {
			t.Errorf("ValidateKey(%q) = %q, want %q", tt.key, got, tt.want)
		}
		if err != nil {
			var ie *InvalidError
			if !errors.As(err, &ie) || ie.What != "secret key" {
				t.Errorf("ValidateKey(%q): error %#v is not an *InvalidError for this key", tt.key, err)
			}
		}
	}
}

func TestValidateProjectAndOrg(t *testing.T) {
	const rule = `: must match ^[a-z0-9][-a-z0-9_]{0,62}$`
	tests := []struct {
		name    string
		project string // want from ValidateProject
		org     string // want from ValidateOrg
	}{
		{"my_project", "", ""},
		{"acme", "", ""},
		{"a", "", ""},
		{"0", "", ""},
		{"a-b_c9", "", ""},
		{strings.Repeat("a", 63), "", ""},
		{"", "", "organization name is empty"},
		{strings.Repeat("a", 64), `invalid project name` + rule,
			`invalid organization name` + rule},
		{"My_Project", `invalid project name` + rule, `invalid organization name` + rule},
		{"-a", `invalid project name` + rule, `invalid organization name` + rule},
		{"_a", `invalid project name` + rule, `invalid organization name` + rule},
		{"a b", `invalid project name` + rule, `invalid organization name` + rule},
		{"a/b", `invalid project name` + rule, `invalid organization name` + rule},
		{"a.b", `invalid project name` + rule, `invalid organization name` + rule},
		{"..", `invalid project name` + rule, `invalid organization name` + rule},
		{"é", `invalid project name` + rule, `invalid organization name` + rule},
		{"a\tb", `invalid project name` + rule, `invalid organization name` + rule},
	}
	for _, tt := range tests {
		if got := errString(ValidateProject(tt.name)); got != tt.project {
			t.Errorf("ValidateProject(%q) = %q, want %q", tt.name, got, tt.project)
		}
		if got := errString(ValidateOrg(tt.name)); got != tt.org {
			t.Errorf("ValidateOrg(%q) = %q, want %q", tt.name, got, tt.org)
		}
	}
}

func TestValidateName(t *testing.T) {
	if got := errString(ValidateName("plugin name", "")); got != "plugin name is empty" {
		t.Errorf("empty: got %q", got)
	}
	if got := errString(ValidateName("plugin name", "Foo")); got != `invalid plugin name: must match ^[a-z0-9][-a-z0-9_]{0,62}$` {
		t.Errorf("Foo: got %q", got)
	}
	if err := ValidateName("plugin name", "filestore"); err != nil {
		t.Errorf("filestore: %v", err)
	}
}

func TestValidateDomain(t *testing.T) {
	tests := []struct {
		domain  string
		allowed []string
		want    string
	}{
		{"", defaultDomains, ""},
		{"", nil, ""},
		{"development", defaultDomains, ""},
		{"staging", defaultDomains, ""},
		{"production", defaultDomains, ""},
		{"qa", defaultDomains, `unknown domain: valid domains are development, staging, production`},
		{"Staging", defaultDomains, `unknown domain: valid domains are development, staging, production`},
		{"staging ", defaultDomains, `unknown domain: valid domains are development, staging, production`},
		{"dev\n", defaultDomains, `unknown domain: valid domains are development, staging, production`},
		{"qa", []string{"qa"}, ""},
		{"qa", nil, `unknown domain: no domains are configured`},
	}
	for _, tt := range tests {
		err := ValidateDomain(tt.domain, tt.allowed)
		if got := errString(err); got != tt.want {
			t.Errorf("ValidateDomain(%q, %q) = %q, want %q", tt.domain, tt.allowed, got, tt.want)
		}
		var ie *InvalidError
		if err != nil && (!errors.As(err, &ie) || ie.What != "domain") {
			t.Errorf("ValidateDomain(%q): %#v is not an *InvalidError about a domain", tt.domain, err)
		}
	}
}

func TestInvalidErrorLiteral(t *testing.T) {
	// A caller-built error reads like the package's own.
	e := &InvalidError{What: "plugin name", Reason: "is taken"}
	if got, want := e.Error(), `invalid plugin name: is taken`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// At says where a rejected value was given, once; the value itself is never in the message.
func TestAt(t *testing.T) {
	err := At(ValidateProject("Hunter2Pass"), "-p/--project")
	if got, want := err.Error(), `invalid project name (-p/--project): must match ^[a-z0-9][-a-z0-9_]{0,62}$`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := At(err, "elsewhere").Error(); strings.Contains(got, "elsewhere") {
		t.Errorf("At overwrote Where: %q", got)
	}
	if got, want := At(ValidateKey(""), "argument KEY").Error(), `secret key (argument KEY) is empty`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := At(ValidateDomain("Hunter2Pass", []string{"dev", "prod"}), "-d/--domain").Error(),
		`unknown domain (-d/--domain): valid domains are dev, prod`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	plain := errors.New("other")
	if At(plain, "x") != plain || At(nil, "x") != nil {
		t.Error("At changed an error that is not an *InvalidError")
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		s   Scope
		str string
	}{
		{Scope{Org: "acme"}, "organization"},
		{Scope{Org: "acme", Project: "p"}, "project p"},
		{Scope{Org: "acme", Domain: "development"}, "domain development"},
		{Scope{Org: "acme", Project: "my_project", Domain: "staging"}, "project my_project, domain staging"},
		// Never valid in a store, but must not print raw control characters if it gets that far.
		{Scope{Org: "acme", Project: "a\x1b]0;x\a"}, `project "a\x1b]0;x\a"`},
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.str {
			t.Errorf("%#v.String() = %q, want %q", tt.s, got, tt.str)
		}
	}
}

func TestCandidates(t *testing.T) {
	o := "acme"
	tests := []struct {
		project, domain string
		want            []Scope
	}{
		{"p", "d", []Scope{{o, "p", "d"}, {o, "p", ""}, {o, "", "d"}, {o, "", ""}}},
		{"p", "", []Scope{{o, "p", ""}, {o, "", ""}}},
		{"", "d", []Scope{{o, "", "d"}, {o, "", ""}}},
		{"", "", []Scope{{o, "", ""}}},
	}
	for _, tt := range tests {
		got := Candidates(o, tt.project, tt.domain)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Candidates(%q, %q, %q) = %v, want %v", o, tt.project, tt.domain, got, tt.want)
		}
		// Every candidate is visible to the task, and nothing else in the four shapes is.
		for _, s := range got {
			if !s.Includes(o, tt.project, tt.domain) {
				t.Errorf("candidate %#v does not include its own task (%q, %q)", s, tt.project, tt.domain)
			}
		}
	}
}

func TestIncludes(t *testing.T) {
	const o = "acme"
	org := Scope{Org: o}
	projA := Scope{Org: o, Project: "a"}
	dev := Scope{Org: o, Domain: "development"}
	aDev := Scope{Org: o, Project: "a", Domain: "development"}
	tests := []struct {
		s               Scope
		org             string
		project, domain string
		want            bool
	}{
		// Organization scope: everything in the organization.
		{org, o, "a", "development", true},
		{org, o, "b", "production", true},
		{org, o, "", "", true},
		{org, "other", "a", "development", false},
		// Project scope: that project in every domain.
		{projA, o, "a", "development", true},
		{projA, o, "a", "staging", true},
		{projA, o, "a", "", true},
		{projA, o, "b", "development", false},
		{projA, o, "", "development", false},
		{projA, o, "ab", "development", false},
		{projA, "other", "a", "development", false},
		// Domain scope: that domain in every project.
		{dev, o, "a", "development", true},
		{dev, o, "b", "development", true},
		{dev, o, "", "development", true},
		{dev, o, "a", "staging", false},
		{dev, o, "a", "", false},
		// Project and domain: exactly that pair.
		{aDev, o, "a", "development", true},
		{aDev, o, "a", "staging", false},
		{aDev, o, "b", "development", false},
		{aDev, o, "", "", false},
		{aDev, "other", "a", "development", false},
	}
	for _, tt := range tests {
		if got := tt.s.Includes(tt.org, tt.project, tt.domain); got != tt.want {
			t.Errorf("%#v.Includes(%q, %q, %q) = %v, want %v", tt.s, tt.org, tt.project, tt.domain, got, tt.want)
		}
	}
}

// TestIsolation checks that no scope shape leaks across projects or domains, and that Candidates and
// Includes agree on every combination.
func TestIsolation(t *testing.T) {
	const o = "acme"
	projects := []string{"", "a", "b"}
	domains := []string{"", "development", "staging"}
	for _, sp := range projects {
		for _, sd := range domains {
			s := Scope{Org: o, Project: sp, Domain: sd}
			for _, tp := range projects {
				for _, td := range domains {
					inc := s.Includes(o, tp, td)
					cand := false
					for _, c := range Candidates(o, tp, td) {
						cand = cand || c == s
					}
					if inc != cand {
						t.Errorf("%v for task (%q, %q): Includes=%v but in Candidates=%v", s, tp, td, inc, cand)
					}
					if sp != "" && sp != tp && inc {
						t.Errorf("secret in project %q visible to project %q", sp, tp)
					}
					if sd != "" && sd != td && inc {
						t.Errorf("secret in domain %q visible to domain %q", sd, td)
					}
					if s.Includes("other", tp, td) {
						t.Errorf("%v visible to another organization", s)
					}
				}
			}
		}
	}
}

func FuzzValidateKey(f *testing.F) {
	for _, s := range []string{"", "a", "MY_KEY", "a b", "a/b", "a.b", "é", strings.Repeat("x", 128), strings.Repeat("x", 129), "\x00", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		err := ValidateKey(key)
		want := keyRE.MatchString(key) && len(key) <= MaxKeyLen
		if (err == nil) != want {
			t.Fatalf("ValidateKey(%q) = %v, but regexp+length says valid=%v", key, err, want)
		}
		if err != nil {
			checkMessage(t, err)
		}
	})
}

func FuzzValidateProject(f *testing.F) {
	for _, s := range []string{"", "a", "my_project", "-a", "A", "a b", strings.Repeat("a", 63), strings.Repeat("a", 64), "\x00", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		err := ValidateProject(p)
		want := p == "" || nameRE.MatchString(p)
		if (err == nil) != want {
			t.Fatalf("ValidateProject(%q) = %v, but regexp says valid=%v", p, err, want)
		}
		if err != nil {
			checkMessage(t, err)
		}
		// Whatever a scope holds, its descriptions stay printable.
		s := Scope{Org: "o", Project: p, Domain: p}
		if out := s.String(); !printable(out) {
			t.Fatalf("Scope with project %q prints unprintable %q", p, out)
		}
	})
}

// checkMessage asserts what every validation error promises: one printable line of bounded length.
func checkMessage(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	if !printable(msg) {
		t.Fatalf("error %q is not printable text", msg)
	}
	if len(msg) > 512 { // 40 runes of at most 10 escaped bytes, plus the rule
		t.Fatalf("error is %d bytes long: %q", len(msg), msg)
	}
	var ie *InvalidError
	if !errors.As(err, &ie) {
		t.Fatalf("error %#v is not an *InvalidError", err)
	}
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

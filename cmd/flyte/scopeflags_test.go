package main

import (
	"testing"
	"unicode"

	"github.com/flytesecrets/flyte/host/scope"
)

func TestScopeFlags(t *testing.T) {
	tests := []struct {
		s     scope.Scope
		flags string
	}{
		{scope.Scope{Org: "acme"}, ""},
		{scope.Scope{Org: "acme", Project: "p"}, "-p p"},
		{scope.Scope{Org: "acme", Domain: "development"}, "-d development"},
		{scope.Scope{Org: "acme", Project: "my_project", Domain: "staging"}, "-p my_project -d staging"},
		// Never valid in a store, but must not print raw control characters if it gets that far.
		{scope.Scope{Org: "acme", Project: "a\x1b]0;x\a"}, `-p "a\x1b]0;x\a"`},
	}
	for _, tt := range tests {
		if got := scopeFlags(tt.s); got != tt.flags {
			t.Errorf("scopeFlags(%#v) = %q, want %q", tt.s, got, tt.flags)
		}
	}
}

// FuzzScopeFlags: whatever a scope read from a store holds, the flags a
// hint prints for it stay printable.
func FuzzScopeFlags(f *testing.F) {
	for _, s := range []string{"", "p", "my-project", "a\x1b]0;x\a", "\u202e", "\xff"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, p, d string) {
		out := scopeFlags(scope.Scope{Org: "o", Project: p, Domain: d})
		for _, r := range out {
			if !unicode.IsPrint(r) {
				t.Fatalf("scopeFlags(%q, %q) = %q: holds %U", p, d, out, r)
			}
		}
	})
}

package main

import (
	"bytes"
	"testing"
)

// A completion whose search never ends (here: reading the environment
// blocks, as a configuration on a hung network mount would) still ends,
// prints what it has and says nothing on standard error.
func TestCompleteGivesUp(t *testing.T) {
	block := make(chan struct{}) // never closed: the search stays blocked until the test binary exits
	getenv := func(string) string { <-block; return "" }
	var out, errb bytes.Buffer
	code := run([]string{completeCmd, "get", "secret", ""}, nil, &out, &errb, getenv)
	if code != exitOK || errb.Len() != 0 || out.String() != ":none\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q; want 0, \":none\\n\", nothing", code, out.String(), errb.String())
	}
}

func TestSafeWord(t *testing.T) {
	for w, want := range map[string]bool{
		"MY_KEY": true, "--type=image_pull": true, "-of": true, "table-simple": true, "-rf": true,
		"": false, "--config=": false, "a b": false, "$(x)": false, "a;b": false, "a\x1b": false, "a\n": false,
		"é": false, "a/b": false, "~": false, "*": false,
	} {
		if got := safeWord(w); got != want {
			t.Errorf("safeWord(%q) = %v, want %v", w, got, want)
		}
	}
}

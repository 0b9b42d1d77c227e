package main

import (
	"strings"
	"testing"
)

// withoutIdentityNotice drops the notice that a command created the
// identity (identityNotice), which the first create of a test's fresh home
// prints, so that "nothing on stderr" still means nothing else.
func withoutIdentityNotice(stderr string) string {
	const head = "flyte: created your identity: "
	i := strings.Index(stderr, head)
	if i < 0 || (i > 0 && stderr[i-1] != '\n') {
		return stderr
	}
	end := strings.IndexByte(stderr[i:], '\n')
	if end < 0 {
		return stderr
	}
	notice := identityNotice(stderr[i+len(head) : i+end])
	if !strings.HasPrefix(stderr[i:], notice) {
		return stderr
	}
	return stderr[:i] + stderr[i+len(notice):]
}

func TestWithoutIdentityNotice(t *testing.T) {
	n := identityNotice("/h/.config/flyte/identity.txt")
	for in, want := range map[string]string{
		n:                                     "",
		"a\n" + n + "b\n":                     "a\nb\n",
		"":                                    "",
		"flyte: other\n":                      "flyte: other\n",
		n[:len(n)-5]:                          n[:len(n)-5],
		"x flyte: created your identity: p\n": "x flyte: created your identity: p\n",
	} {
		if got := withoutIdentityNotice(in); got != want {
			t.Errorf("withoutIdentityNotice(%q) = %q, want %q", in, got, want)
		}
	}
}

package httpgrant

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// The forms a message can show a credential in, each recognised; text
// near it but not it is not.
func TestReveals(t *testing.T) {
	const cred = `Tr0ub4dor&3 "pw"/x`
	r := newRevealer(map[string][]byte{"password": []byte(cred + "\n")})
	j, _ := json.Marshal(cred)
	basic := func(e *base64.Encoding, s string) string { return e.EncodeToString([]byte(s)) }
	pct := func(s string) string {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			fmt.Fprintf(&b, "%%%02x", s[i])
		}
		return b.String()
	}
	for name, msg := range map[string]string{
		"exact":               "error: " + cred + "\n is wrong",
		"upper case":          "https://" + strings.ToUpper(cred) + ".example:443 is not granted",
		"lower case":          strings.ToLower(cred),
		"base64":              basic(base64.StdEncoding, cred),
		"basic auth":          "401: Authorization: Basic " + basic(base64.StdEncoding, "flyte:"+cred) + " refused",
		"basic auth, url":     "token=" + basic(base64.RawURLEncoding, "flyte:"+cred),
		"basic auth, glued":   "Basic" + basic(base64.StdEncoding, "fl:"+cred),
		"short join":          basic(base64.StdEncoding, "u:"+cred+":1"),
		"query-escaped":       "GET /?p=" + url.QueryEscape(cred),
		"path-escaped":        "GET /" + url.PathEscape(cred),
		"every byte escaped":  "GET /" + pct(cred),
		"escaped, upper case": strings.ToUpper(url.QueryEscape(cred)),
		"json":                `{"password":` + string(j) + `}`,
		"json, base64 escape": url.QueryEscape(basic(base64.StdEncoding, "flyte:"+cred)),
	} {
		if !r.reveals([]byte(msg)) {
			t.Errorf("%s: %q not recognised", name, msg)
		}
	}
	for name, msg := range map[string]string{
		"part of it":       "error: Tr0ub4dor&3 is wrong",
		"ordinary text":    "https://example.com:443 is not granted to it",
		"other base64":     "Basic " + basic(base64.StdEncoding, "flyte:something else"),
		"broken escapes":   "100% %zz %",
		"empty":            "",
		"base64 of a part": basic(base64.StdEncoding, "flyte:Tr0ub4dor"),
	} {
		if r.reveals([]byte(msg)) {
			t.Errorf("%s: %q recognised", name, msg)
		}
	}
	if (revealer{}).reveals([]byte(cred)) {
		t.Error("no credentials: recognised")
	}
}

// FuzzReveals: any message, never a panic; a message holding the
// credential's base64 join, wherever it is, is recognised.
func FuzzReveals(f *testing.F) {
	for _, s := range []string{"", "%", "%4", "abcd", "Zm9v====", "a-_b+/c=", strings.Repeat("A", 100)} {
		f.Add(s, s)
	}
	const cred = "fuzz-credential"
	r := newRevealer(map[string][]byte{"c": []byte(cred)})
	f.Fuzz(func(t *testing.T, before, after string) {
		r.reveals([]byte(before + after))
		msg := before + " " + base64.StdEncoding.EncodeToString([]byte(after+cred)) + " " + after
		if !r.reveals([]byte(msg)) {
			t.Errorf("%q not recognised", msg)
		}
	})
}

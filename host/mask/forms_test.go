package mask

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
)

// maskAll masks in with the forms of values, in one write.
func maskAll(t testing.TB, in string, values ...string) string {
	t.Helper()
	return maskChunks(t, forms(values...), []byte(in))
}

// The core of a value, at each offset and in both alphabets, is found
// inside any longer base64 run, whatever the neighbouring bytes; it is
// exactly the characters that do not depend on them.
func TestCores(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for n := 1; n < 40; n++ {
		v := make([]byte, n)
		for i := range v {
			v[i] = byte(rng.Uint32())
		}
		cs := cores(v)
		for _, c := range cs {
			if len(c) < CoreMin {
				t.Fatalf("core of %d bytes is %d characters", n, len(c))
			}
		}
		for k := range 3 {
			first, last := (8*k+5)/6, 8*(k+n)/6
			if last-first < CoreMin {
				continue
			}
			for _, e := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
				var found []byte
				for trial := range 20 {
					pre := make([]byte, k+3*rng.IntN(4))
					post := make([]byte, rng.IntN(5))
					for i := range pre {
						pre[i] = byte(rng.Uint32())
					}
					for i := range post {
						post[i] = byte(rng.Uint32())
					}
					enc := e.EncodeToString(append(append(bytes.Clone(pre), v...), post...))
					// v starts at byte len(pre), a multiple of 3 plus k.
					skip := len(pre) / 3 * 4
					core := enc[skip+first : skip+last]
					if trial == 0 {
						found = []byte(core)
					} else if core != string(found) {
						t.Fatalf("n=%d k=%d: core depends on the neighbours", n, k)
					}
				}
				ok := false
				for _, c := range cs {
					ok = ok || bytes.Equal(c, found)
				}
				if !ok {
					t.Fatalf("n=%d k=%d: core %q not among the forms", n, k, found)
				}
			}
		}
	}
}

// An Authorization: Basic header of user:pass masks pass, whatever the
// length of the user name (so at each of the three offsets); the core is
// masked, the at most two characters around it that mix in the neighbours'
// bits are not.
func TestEmbeddedBase64(t *testing.T) {
	pass := "hunter2-Pass/word"
	for _, user := range []string{"", "a", "al", "alice", "bob:", "carol-the-admin"} {
		for _, e := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding} {
			cred := e.EncodeToString([]byte(user + ":" + pass + "\n"))
			in := "curl -H 'Authorization: Basic " + cred + "' https://x\n"
			got := maskAll(t, in, pass)
			if !strings.Contains(got, Redacted) {
				t.Fatalf("user %q: not masked: %q", user, got)
			}
			// What is left of the base64 run is the user's part and at most
			// 3 characters that carry bits of pass.
			run := got[len("curl -H 'Authorization: Basic ") : len(got)-len("' https://x\n")]
			before, after, _ := strings.Cut(run, Redacted)
			userChars := len(user+":") * 8 / 6
			if len(before) > userChars+1 || len(strings.TrimRight(after, "=")) > 2+2 {
				t.Fatalf("user %q: %q left around the mask", user, run)
			}
		}
	}
	// Ordinary base64 output is left alone.
	plain := base64.StdEncoding.EncodeToString([]byte("user:another-password-entirely"))
	if got := maskAll(t, plain, pass); got != plain {
		t.Fatalf("masked %q", got)
	}
}

// Each line of at least LineMin bytes of a multi-line value is masked on
// its own, in every form; shorter lines are not.
func TestMultiLine(t *testing.T) {
	pem := "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n  bKcwggSjAgEAAoIBAQC7\nshort\n-----END PRIVATE KEY-----\n"
	line := "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"
	j, _ := json.Marshal(map[string]string{"k": line})
	cases := []struct{ in, want string }{
		{"line: " + line + "\n", "line: *****\n"},
		{"indented:     bKcwggSjAgEAAoIBAQC7 \n", "indented:     ***** \n"},
		{string(j), `{"k":"*****"}`},
		{base64.StdEncoding.EncodeToString([]byte(line)), "*****"},
		{"x" + base64.StdEncoding.EncodeToString([]byte("ab"+line)) + "x", "xYWJ*****w==x"},
		{"short\n", "short\n"},
		{"-----END PRIVATE KEY-----", "*****"},
	}
	for _, c := range cases {
		if got := maskAll(t, c.in, pem); got != c.want {
			t.Errorf("%q: got %q, want %q", c.in, got, c.want)
		}
	}
	// Every line of a 4096-bit RSA key in PEM (3.2 KB) has every form.
	rng := rand.New(rand.NewPCG(8, 9))
	key := make([]byte, 2374)
	for i := range key {
		key[i] = byte(rng.Uint32())
	}
	b64 := base64.StdEncoding.EncodeToString(key)
	rsa := "-----BEGIN RSA PRIVATE KEY-----\n"
	for len(b64) > 0 {
		n := min(64, len(b64))
		rsa, b64 = rsa+b64[:n]+"\n", b64[n:]
	}
	rsa += "-----END RSA PRIVATE KEY-----\n"
	all := map[string]bool{}
	for _, f := range Forms([]byte(rsa)) {
		all[string(f)] = true
	}
	for l := range strings.Lines(rsa) {
		l = strings.TrimSuffix(l, "\n")
		if !all[base64.StdEncoding.EncodeToString([]byte(l))] || !all[string(cores([]byte(l))[4])] {
			t.Fatalf("a line of a %d-byte PEM key lacks a form", len(rsa))
		}
	}
	// However many lines a value has, it has at most MaxForms forms.
	var many []byte
	for i := 0; len(many) < LargeValue-9; i++ {
		many = fmt.Appendf(many, "l%07d\n", i)
	}
	if n := len(Forms(many)); n > MaxForms || n < MaxForms-maxEncodings {
		t.Errorf("%d forms", n)
	}
	// A large value's lines are masked raw.
	big := strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\n", LargeValue/63+10) + "THE-LAST-LINE\n"
	if got := maskAll(t, "> THE-LAST-LINE <", big); got != "> ***** <" {
		t.Errorf("large value's line: %q", got)
	}
}

// WholeForms masks a value that joins literal text with secrets as a whole,
// in every encoding Forms gives the value itself, but neither its lines nor
// (when large) its chunks: those may be literal text alone.
func TestWholeForms(t *testing.T) {
	conf := "[database]\nuser = app_user\npassword = \"s3cr:t/p@ss\"\n"
	whole, full := WholeForms([]byte(conf)), Forms([]byte(conf))
	if len(whole) == 0 || len(whole) >= len(full) {
		t.Fatalf("%d whole forms, %d forms", len(whole), len(full))
	}
	all := map[string]bool{}
	for _, f := range full {
		all[string(f)] = true
	}
	for _, f := range whole {
		if !all[string(f)] {
			t.Errorf("a whole form is not among Forms")
		}
	}
	j, _ := json.Marshal(conf)
	for _, c := range []struct{ in, want string }{
		{"[database]\n", "[database]\n"},
		{"user = app_user\n", "user = app_user\n"},
		{conf, "*****"},
		{"x" + conf + "x", "x*****x"},
		{string(j), `"*****"`},
		{base64.StdEncoding.EncodeToString([]byte(conf)), "*****"},
	} {
		if got := maskChunks(t, WholeForms([]byte(conf)), []byte(c.in)); got != c.want {
			t.Errorf("%q: got %q, want %q", c.in, got, c.want)
		}
	}
	// A large one is masked raw and whole: a chunk of it printed alone
	// is not.
	big := strings.Repeat("[section]\nkey = value\n", LargeValue/20+10) + "secret-bytes"
	forms := WholeForms([]byte(big))
	if len(forms) != 1 || string(forms[0]) != big {
		t.Fatalf("%d forms of a large value", len(forms))
	}
	if got := maskChunks(t, forms, []byte(big[:ChunkLen]+"|"+big)); got != big[:ChunkLen]+"|*****" {
		t.Errorf("large value: %q", got)
	}
	if WholeForms([]byte("abc")) != nil {
		t.Error("a value shorter than MinLen has whole forms")
	}
}

// The masker of 16 values of 1 MiB, and of values just at LargeValue (which
// get every form), is bounded in memory: allocation bytes are counted, not
// time.
func TestBuildMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates tens of MB")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	measure := func(values [][]byte) (alloc uint64, patterns int) {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		var pats [][]byte
		for _, v := range values {
			pats = append(pats, Forms(v)...)
		}
		w := NewWriter(&bytes.Buffer{}, pats, 0)
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(w)
		return after.TotalAlloc - before.TotalAlloc, len(w.m.pats)
	}

	var files [][]byte
	total := 0
	for range 16 {
		files = append(files, random(1<<20))
		total += 1 << 20
	}
	alloc, n := measure(files)
	t.Logf("16 x 1 MiB: %d patterns, %.1f MiB allocated", n, float64(alloc)/(1<<20))
	if n > total/ChunkLen+16 {
		t.Errorf("%d patterns for %d chunks", n, total/ChunkLen)
	}
	// One copy of each value, the pattern list and the tables.
	if alloc > uint64(total)*2 {
		t.Errorf("building the masker for 16 MiB allocated %d MiB", alloc>>20)
	}

	// Values of LargeValue bytes have every form; 512 of them (the most a
	// task can receive) must stay within 256 MB, binary or text of many
	// lines (whose lines have every form too).
	pemLike := func() []byte {
		b := base64.StdEncoding.AppendEncode(nil, random(LargeValue))
		var out []byte
		for len(out) < LargeValue-65 {
			out = append(append(out, b[:64]...), '\n')
			b = b[64:]
		}
		return append(out, make([]byte, LargeValue-len(out))...)
	}
	shortLines := func() []byte {
		b := base64.StdEncoding.AppendEncode(nil, random(LargeValue))
		var out []byte
		for len(out) < LargeValue-LineMin-1 {
			out = append(append(out, b[:LineMin]...), '\n')
			b = b[LineMin:]
		}
		return append(out, make([]byte, LargeValue-len(out))...)
	}
	for _, kind := range []string{"binary", "pem", "short lines"} {
		var vs [][]byte
		for range 8 {
			switch kind {
			case "binary":
				vs = append(vs, random(LargeValue))
			case "pem":
				vs = append(vs, pemLike())
			default:
				vs = append(vs, shortLines())
			}
		}
		alloc, _ = measure(vs)
		per := float64(alloc) / float64(8*LargeValue)
		t.Logf("%s values of %d bytes: %.1f bytes allocated per value byte", kind, LargeValue, per)
		if worst := per * 512 * LargeValue; worst > 200<<20 {
			t.Errorf("512 %s values of %d bytes would allocate %.0f MiB", kind, LargeValue, worst/(1<<20))
		}
	}
}

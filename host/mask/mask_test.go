package mask

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
)

// oneShot is the reference masking of a whole stream: scan left to right;
// at each position replace the longest pattern (of at least MinLen bytes)
// that starts there and continue after it, else pass the byte on.
func oneShot(patterns [][]byte, in []byte) []byte {
	out, _ := naive(patterns, in, true)
	return out
}

// naive is the reference for streaming: the same scan, except that unless
// final it stops at the first position whose remaining bytes are a proper
// prefix of a pattern and returns those bytes as held.
func naive(patterns [][]byte, in []byte, final bool) (out, held []byte) {
	out = []byte{}
	for i := 0; i < len(in); {
		rest, best := in[i:], 0
		for _, p := range patterns {
			if len(p) < MinLen {
				continue
			}
			if !final && len(rest) < len(p) && bytes.HasPrefix(p, rest) {
				return out, rest
			}
			if len(p) > best && bytes.HasPrefix(rest, p) {
				best = len(p)
			}
		}
		if best > 0 {
			out = append(out, Redacted...)
			i += best
		} else {
			out = append(out, in[i])
			i++
		}
	}
	return out, nil
}

func bs(ss ...string) [][]byte {
	var out [][]byte
	for _, s := range ss {
		out = append(out, []byte(s))
	}
	return out
}

func forms(vs ...string) [][]byte {
	var out [][]byte
	for _, v := range vs {
		out = append(out, Forms([]byte(v))...)
	}
	return out
}

// maskChunks writes the chunks one by one with no hold timer, then closes.
func maskChunks(t testing.TB, patterns [][]byte, chunks ...[]byte) string {
	t.Helper()
	var out bytes.Buffer
	w := NewWriter(&out, patterns, 0)
	for _, c := range chunks {
		if n, err := w.Write(c); err != nil || n != len(c) {
			t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(c))
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestForms(t *testing.T) {
	v := "pa\"ss<\n\\wörd??!" // base64 has padding and a '/'
	b := []byte(v)
	want := []string{
		v,
		base64.StdEncoding.EncodeToString(b),
		base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b),
		base64.RawURLEncoding.EncodeToString(b),
		`pa\"ss\u003c\n\\wörd??!`,
		`pa\"ss<\n\\wörd??!`,
		`pa\"ss<\n\\w\u00f6rd??!`, // Python's json.dumps
		base64.StdEncoding.EncodeToString(append(bytes.Clone(b), '\n')), // echo "$S" | base64
	}
	// Then the base64 cores of v, and the forms of its second line (the
	// first is shorter than LineMin), less those already there.
	seen := map[string]bool{}
	for _, w := range want {
		seen[w] = true
	}
	for _, c := range cores(b) {
		if !seen[string(c)] {
			seen[string(c)] = true
			want = append(want, string(c))
		}
	}
	line := Forms([]byte(`\wörd??!`))
	if len(line) < 8 {
		t.Fatalf("line has %d forms", len(line))
	}
	for _, f := range line {
		if !seen[string(f)] {
			want = append(want, string(f))
		}
	}
	got := Forms(b)
	if len(got) != len(want) {
		t.Fatalf("got %d forms, want %d", len(got), len(want))
	}
	for i := range want {
		if string(got[i]) != want[i] {
			t.Errorf("form %d = %q, want %q", i, got[i], want[i])
		}
	}

	// No padding, no URL-unsafe characters, nothing to escape: raw, one
	// base64 form (also its only core of 8 characters), and base64 of the
	// value with a newline.
	if got := Forms([]byte("abcdef")); len(got) != 3 || string(got[0]) != "abcdef" || string(got[1]) != "YWJjZGVm" || string(got[2]) != "YWJjZGVmCg==" {
		t.Errorf("Forms(abcdef) = %q", got)
	}
	for _, short := range []string{"", "a", "abc"} {
		if got := Forms([]byte(short)); got != nil {
			t.Errorf("Forms(%q) = %q, want none", short, got)
		}
	}
	// Forms must not alias the caller's slice.
	src := []byte("mutable")
	f := Forms(src)
	src[0] = 'X'
	if string(f[0]) != "mutable" {
		t.Error("Forms aliases its argument")
	}
}

func TestWriter(t *testing.T) {
	pem := "-----BEGIN KEY-----\nMIIabc+/def\nghi==\n-----END KEY-----\n"
	odd := "pa\"ss<\n\\wörd"
	tok := "tok3n-xyz~~~?" // base64 has padding and a + (- in the URL alphabet)
	j, _ := jsonBody(odd)
	cases := []struct {
		name     string
		patterns [][]byte
		in, want string
	}{
		{"raw", forms("hunter22"), "pw=hunter22 ok hunter22\n", "pw=***** ok *****\n"},
		{"base64 std", forms(tok), "b64 " + base64.StdEncoding.EncodeToString([]byte(tok)) + "\n", "b64 *****\n"},
		{"base64 url", forms(tok), "u " + base64.URLEncoding.EncodeToString([]byte(tok)) + "!", "u *****!"},
		{"base64 raw", forms(tok), "r " + base64.RawStdEncoding.EncodeToString([]byte(tok)) + ".", "r *****."},
		{"base64 raw url", forms(tok), "r " + base64.RawURLEncoding.EncodeToString([]byte(tok)) + ".", "r *****."},
		{"json escaped", forms(odd), `{"k":"` + j + `"}`, `{"k":"*****"}`},
		{"json html escaped", forms(odd), `{"k":"pa\"ss\u003c\n\\wörd"}`, `{"k":"*****"}`},
		{"json no html escape", forms(odd), `{"k":"pa\"ss<\n\\wörd"}`, `{"k":"*****"}`},
		{"pem raw", forms(pem), "key:\n" + pem + "done\n", "key:\n*****done\n"},
		{"pem json", forms(pem), `{"key":"-----BEGIN KEY-----\nMIIabc+/def\nghi==\n-----END KEY-----\n"}`, `{"key":"*****"}`},
		{"pem base64", forms(pem), base64.StdEncoding.EncodeToString([]byte(pem)), "*****"},
		{"ansi kept", forms("tok3n-xyz"), "\x1b[31mtok3n-xyz\x1b[0m \x1b[1;32mok\x1b[0m\n", "\x1b[31m*****\x1b[0m \x1b[1;32mok\x1b[0m\n"},
		{"no match", forms("tok3n-xyz"), "\x1b[31mtok3n-xy\x1b[0m tok3n\n", "\x1b[31mtok3n-xy\x1b[0m tok3n\n"},
		{"longest wins", bs("abcd", "abcdefgh"), "xx abcdefgh abcdzz abcdefg", "xx ***** *****zz *****efg"},
		{"leftmost wins", bs("bcdefg", "abcd"), "abcdefg", "*****efg"},
		{"leftmost longer", bs("cdef", "abcdefgh"), "abcdefgh abcdef", "***** ab*****"},
		{"scan resumes after", bs("aaaa"), "aaaaaaaaaa", "**********aa"},
		{"adjacent", bs("abcd", "efgh"), "abcdefgh", "**********"},
		{"self overlap", bs("abab"), "abababab", "**********"},
		{"prefix at eof", bs("secret"), "a secr", "a secr"},
		{"shorter inside held", bs("abcd", "abcdefgh"), "x abcdef", "x *****ef"},
		{"short pattern ignored", bs("abc", "ab"), "abc ab", "abc ab"},
		{"non-ascii", forms("wörd-ü"), "[wörd-ü]", "[*****]"},
		{"empty", forms("hunter22"), "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := string(oneShot(c.patterns, []byte(c.in))); got != c.want {
				t.Fatalf("reference disagrees with the table: %q", got)
			}
			in := []byte(c.in)
			if got := maskChunks(t, c.patterns, in); got != c.want {
				t.Fatalf("one write: %q, want %q", got, c.want)
			}
			for i := 0; i <= len(in); i++ {
				if got := maskChunks(t, c.patterns, in[:i], in[i:]); got != c.want {
					t.Fatalf("split at %d: %q, want %q", i, got, c.want)
				}
			}
			for i := 0; i <= len(in); i++ {
				for k := i; k <= len(in); k++ {
					if got := maskChunks(t, c.patterns, in[:i], in[i:k], in[k:]); got != c.want {
						t.Fatalf("split at %d,%d: %q, want %q", i, k, got, c.want)
					}
				}
			}
			var bytewise [][]byte
			for i := range in {
				bytewise = append(bytewise, in[i:i+1])
			}
			if got := maskChunks(t, c.patterns, bytewise...); got != c.want {
				t.Fatalf("byte by byte: %q, want %q", got, c.want)
			}
		})
	}
}

func jsonBody(s string) (string, error) {
	f := Forms([]byte(s))
	for _, x := range f {
		if bytes.Contains(x, []byte(`\u003c`)) {
			return string(x), nil
		}
	}
	return "", errors.New("no JSON form")
}

// recorder keeps each write it gets as a separate element.
type recorder struct {
	mu     sync.Mutex
	writes []string
	signal chan string // if not nil, gets every write
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.writes = append(r.writes, string(p))
	r.mu.Unlock()
	if r.signal != nil {
		r.signal <- string(p)
	}
	return len(p), nil
}

func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.writes...)
}

func TestPassThroughImmediately(t *testing.T) {
	var r recorder
	w := NewWriter(&r, forms("s3cr3t-value"), time.Hour)
	defer w.Close()
	check := func(in string, want ...string) {
		t.Helper()
		if _, err := w.Write([]byte(in)); err != nil {
			t.Fatal(err)
		}
		got := r.all()
		r.writes = nil
		if fmt.Sprint(got) != fmt.Sprint(want) || len(got) != len(want) {
			t.Fatalf("after Write(%q): downstream got %q, want %q", in, got, want)
		}
	}
	line := "\x1b[1;31merror:\x1b[0m plain output, no secret here\n"
	check(line, line) // one write, byte-identical, before Write returns
	check("value s3cr3t-value done\n", "value ***** done\n")
	check("ends with s3c", "ends with ") // "s3c" held
	check("r3t-value\n", "*****\n")
	check("held s3cr", "held ")
	check("et\n", "s3cret\n") // not a match after all: held bytes go out at once
	check("\x1b[32mgreen\x1b[0m", "\x1b[32mgreen\x1b[0m")
}

func TestFlushEmitsHeldPrefix(t *testing.T) {
	var r recorder
	w := NewWriter(&r, bs("secret-value"), 0)
	w.Write([]byte("prompt> secret-va"))
	if got := r.all(); len(got) != 1 || got[0] != "prompt> " {
		t.Fatalf("before Flush: %q", got)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.all(), ""); got != "prompt> secret-va" {
		t.Fatalf("after Flush: %q", got)
	}
	// A later write starts afresh: the flushed half cannot be completed.
	w.Write([]byte("lue secret-value"))
	w.Close()
	if got := strings.Join(r.all(), ""); got != "prompt> secret-value *****" {
		t.Fatalf("after Close: %q", got)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
}

func TestHoldTimerReleasesPrefix(t *testing.T) {
	r := recorder{signal: make(chan string, 16)}
	w := NewWriter(&r, bs("secret-value"), 20*time.Millisecond)
	defer w.Close()
	w.Write([]byte("Password for secr"))
	wait := func(want string) {
		t.Helper()
		select {
		case got := <-r.signal:
			if got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("timed out waiting for %q", want)
		}
	}
	wait("Password for ") // at once
	wait("secr")          // after the hold time, unmasked
	// Nothing is held any more, so nothing else comes.
	w.mu.Lock()
	pending := len(w.pending)
	w.mu.Unlock()
	if pending != 0 {
		t.Fatalf("%d bytes still held", pending)
	}
}

func TestHoldTimerWaitsForDeadline(t *testing.T) {
	var r recorder
	w := NewWriter(&r, bs("secret-value"), time.Hour)
	defer w.Close()
	w.Write([]byte("x secr"))
	// A timer callback that lost the race with a Write must not flush
	// before the deadline that Write set.
	w.expire()
	if got := strings.Join(r.all(), ""); got != "x " {
		t.Fatalf("early expiry emitted %q", got)
	}
	w.Write([]byte("et-value"))
	w.Flush()
	if got := strings.Join(r.all(), ""); got != "x *****" {
		t.Fatalf("got %q", got)
	}
}

func TestConcurrentWriters(t *testing.T) {
	var out bytes.Buffer
	var mu sync.Mutex
	w := NewWriter(lockedWriter{&mu, &out}, forms("topsecret-1", "topsecret-2"), time.Millisecond)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				line := fmt.Sprintf("g%d line %d topsecret-%d %s\n", g, i, 1+i%2,
					base64.StdEncoding.EncodeToString([]byte("topsecret-2")))
				if _, err := w.Write([]byte(line)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 100 {
			w.Flush()
		}
	})
	wg.Wait()
	w.Close()
	mu.Lock()
	defer mu.Unlock()
	s := out.String()
	if strings.Contains(s, "topsecret") || strings.Count(s, Redacted) != 8*200*2 || strings.Count(s, "\n") != 8*200 {
		t.Fatalf("concurrent writes leaked or lost output:\n%s", s)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestShortValuesNotMasked(t *testing.T) {
	if Forms([]byte("abc")) != nil {
		t.Fatal("3-byte value has forms")
	}
	var r recorder
	w := NewWriter(&r, bs("abc", "", "xy"), time.Hour)
	w.Write([]byte("abc xy ab"))
	if got := r.all(); len(got) != 1 || got[0] != "abc xy ab" {
		t.Fatalf("got %q", got)
	}
}

func TestPendingBound(t *testing.T) {
	long := strings.Repeat("ab", 50) + "c"
	w := NewWriter(io.Discard, bs(long, "abab", "babc"), 0)
	for i := range 3 * len(long) {
		w.Write([]byte{long[i%len(long)]})
		if len(w.pending) > len(long)-1 {
			t.Fatalf("%d bytes pending, limit %d", len(w.pending), len(long)-1)
		}
	}
}

type failWriter struct{ err error }

func (f failWriter) Write(p []byte) (int, error) { return 0, f.err }

type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return len(p) / 2, nil }

func TestErrors(t *testing.T) {
	boom := errors.New("boom")
	w := NewWriter(failWriter{boom}, forms("hunter22"), 0)
	if n, err := w.Write([]byte("x hunter22")); n != 0 || !errors.Is(err, boom) {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if err := w.Close(); !errors.Is(err, boom) {
		t.Fatalf("Close = %v", err)
	}
	w = NewWriter(shortWriter{}, forms("hunter22"), 0)
	if _, err := w.Write([]byte("plain text")); !errors.Is(err, io.ErrShortWrite) {
		t.Fatalf("short write: %v", err)
	}
	for _, e := range []error{ErrClosed, io.ErrShortWrite} {
		if strings.Contains(e.Error(), "hunter") {
			t.Fatal("error carries data")
		}
	}
	// Formatting a Writer must not print patterns or held bytes.
	w = NewWriter(io.Discard, forms("hunter22"), 0)
	w.Write([]byte("hunt"))
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		s := fmt.Sprintf(verb, w)
		if strings.Contains(s, "hunt") || strings.Contains(s, "68756e74") {
			t.Fatalf("%s prints the writer's contents: %s", verb, s)
		}
	}
}

// TestAgainstReference checks, after every write of random streams split at
// random, that exactly what the streaming reference emits has been passed
// on and exactly what it holds is held.
func TestAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := range 6000 {
		alpha := "abc"[:1+rng.IntN(3)]
		// Short patterns (the 4-byte table), then also long ones that
		// share 8-byte anchors and prefixes of each other.
		maxLen := MinLen + 5
		if n >= 2000 {
			maxLen = 3 * anchorLen
		}
		var pats [][]byte
		for range 1 + rng.IntN(6) {
			p := make([]byte, MinLen+rng.IntN(maxLen-MinLen))
			for i := range p {
				p[i] = alpha[rng.IntN(len(alpha))]
			}
			pats = append(pats, p)
		}
		in := make([]byte, rng.IntN(20*maxLen/3))
		for i := range in {
			in[i] = alpha[rng.IntN(len(alpha))]
		}
		checkStream(t, pats, in, randomSplits(rng, len(in)))
	}
}

func randomSplits(rng *rand.Rand, n int) []int {
	var cuts []int
	for i := 0; i < n; {
		i += 1 + rng.IntN(8)
		cuts = append(cuts, min(i, n))
	}
	return cuts
}

// checkStream writes in cut at the given offsets and compares the writer
// with the references after every write and at the end.
func checkStream(t *testing.T, pats [][]byte, in []byte, cuts []int) {
	t.Helper()
	var out bytes.Buffer
	w := NewWriter(&out, pats, 0)
	prev := 0
	for _, c := range cuts {
		w.Write(in[prev:c])
		prev = c
		emitted, held := naive(pats, in[:c], false)
		if out.String() != string(emitted) || string(w.pending) != string(held) {
			t.Fatalf("patterns %q, input %q, after %d bytes: emitted %q held %q; want %q, %q",
				pats, in, c, out.Bytes(), w.pending, emitted, held)
		}
		if w.m != nil && len(w.pending) >= w.m.maxLen {
			t.Fatalf("%d bytes held, longest pattern %d", len(w.pending), w.m.maxLen)
		}
	}
	w.Close()
	if want := oneShot(pats, in); out.String() != string(want) {
		t.Fatalf("patterns %q, input %q: got %q, want %q", pats, in, out.Bytes(), want)
	}
}

// FuzzWriter: random text with random patterns, and proper prefixes of
// them, inserted at random places, written in random pieces.
//
// Oracle: after each write, the bytes passed on and the bytes held equal
// those of naive(patterns, input so far, false), the literal reading of
// the spec (scan left to right, stop at the first position whose rest is a
// proper prefix of a pattern, else replace the longest pattern starting
// there or pass the byte on); after Close the output equals
// oneShot(patterns, whole input), the same scan to the end. When no
// pattern contains '*' the output also contains no pattern: a pattern left
// whole in unmasked text would have been replaced by the scan, and one that
// spans a replacement would contain '*'. (With '*' in a pattern, "*****"
// next to text can form a new occurrence, so that check is skipped.)
func FuzzWriter(f *testing.F) {
	f.Add([]byte("hello world, this is output\n"), []byte("s3cr3t-value"), []byte("other"), uint64(1))
	f.Add([]byte("aaaaaaaaaaaaaaaa"), []byte("aaaaab"), []byte("aab?"), uint64(2))
	f.Add([]byte("{\"k\":\"v\"}\n\x1b[31mred\x1b[0m"), []byte("line1\nline\"2\\"), []byte("<&>ü"), uint64(3))
	// A value inside a longer base64 run; a value of several lines.
	f.Add([]byte("Authorization: Basic YWxpY2U6aHVudGVyMi1wYXNzd29yZA==\n"), []byte("hunter2-password"), []byte("-----BEGIN-----\nabcdefgh12\n  line-three\n"), uint64(4))
	f.Fuzz(fuzzBody)
}

func fuzzBody(t *testing.T, text, v1, v2 []byte, seed uint64) {
	{
		text = text[:min(len(text), 300)]
		v1 = v1[:min(len(v1), 24)]
		v2 = v2[:min(len(v2), 24)]
		pats := append(Forms(v1), Forms(v2)...)
		if len(v1) >= 2*MinLen {
			// Patterns that overlap: a prefix and a suffix of another.
			pats = append(pats, v1[:len(v1)/2], v1[len(v1)/3:])
		}
		rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
		in := append([]byte(nil), text...)
		if len(pats) > 0 {
			for range rng.IntN(6) {
				p := pats[rng.IntN(len(pats))]
				if rng.IntN(3) == 0 {
					p = p[:rng.IntN(len(p))]
				}
				at := rng.IntN(len(in) + 1)
				in = append(in[:at:at], append(append([]byte(nil), p...), in[at:]...)...)
			}
		}
		checkStream(t, pats, in, randomSplits(rng, len(in)))
		out := oneShot(pats, in)
		star := false
		for _, p := range pats {
			star = star || bytes.IndexByte(p, '*') >= 0
		}
		if !star {
			for _, p := range pats {
				if len(p) >= MinLen && bytes.Contains(out, p) {
					t.Fatalf("output %q contains pattern %q", out, p)
				}
			}
		}
	}
}

// BenchmarkWriter compares masking 10 values (in all their forms) in 1 MiB
// of log-like text, copied in 32 KiB writes as exec.Cmd's copy loop makes
// them, with the same copy to io.Discard; masked_hits has a value every
// 4 KiB.
func BenchmarkWriter(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 7))
	words := strings.Fields("the quick brown fox jumps over lazy dog INFO WARN request id=42 " +
		"user=alice path=/api/v1/items status=200 latency=3ms {\"ok\":true} \x1b[32mgreen\x1b[0m " +
		"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA c2VjcmV0 dG9r")
	var text []byte
	for len(text) < 1<<20 {
		text = append(text, words[rng.IntN(len(words))]...)
		if rng.IntN(12) == 0 {
			text = append(text, '\n')
		} else {
			text = append(text, ' ')
		}
	}
	var pats [][]byte
	var values []string
	for i := range 10 {
		v := fmt.Sprintf("sk-live-%02d-%s", i, base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprint(rng.Uint64()))))
		values = append(values, v)
		pats = append(pats, Forms([]byte(v))...)
	}
	withHits := append([]byte(nil), text...)
	for i := 0; i < len(withHits)-64; i += 4096 {
		copy(withHits[i:], values[i%10])
	}
	buf := make([]byte, 32<<10)
	run := func(b *testing.B, dst io.Writer, data []byte) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			// Both cases read into buf and write from it, as exec.Cmd does.
			if _, err := io.CopyBuffer(onlyWriter{dst}, onlyReader{bytes.NewReader(data)}, buf); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("plain", func(b *testing.B) { run(b, io.Discard, text) })
	b.Run("masked", func(b *testing.B) { run(b, NewWriter(io.Discard, pats, 250*time.Millisecond), text) })
	b.Run("masked_hits", func(b *testing.B) { run(b, NewWriter(io.Discard, pats, 250*time.Millisecond), withHits) })
	b.Logf("%d patterns, longest %d bytes", len(pats), NewWriter(io.Discard, pats, 0).m.maxLen)
}

type onlyWriter struct{ io.Writer }

type onlyReader struct{ io.Reader }

// A large value is masked by chunks: printed whole, none of it shows.
func TestLargeValue(t *testing.T) {
	v := bytes.Repeat([]byte("0123456789abcdef-"), (LargeValue/17)+500)
	forms := Forms(v)
	if len(forms) < 2 {
		t.Fatalf("%d forms", len(forms))
	}
	var out bytes.Buffer
	w := NewWriter(&out, forms, 0)
	o2 := w.Sibling(&out)
	_, _ = w.Write([]byte("start "))
	_, _ = w.Write(v[:1000])
	_, _ = w.Write(v[1000:])
	_, _ = w.Write([]byte(" end"))
	_ = w.Close()
	_ = o2.Close()
	if bytes.Contains(out.Bytes(), v[:MinLen*4]) || !bytes.HasPrefix(out.Bytes(), []byte("start *****")) || !bytes.HasSuffix(out.Bytes(), []byte("***** end")) {
		t.Fatalf("large value leaked: %q", out.Bytes()[:80])
	}
}

// A large value printed whole is masked to its last byte, whatever its
// length: the last chunk takes the remainder, so no short tail shows.
func TestLargeValueTail(t *testing.T) {
	for _, n := range []int{LargeValue + 1, LargeValue + 3, LargeValue + ChunkLen - 1, LargeValue + ChunkLen, 3*LargeValue + 7} {
		// Random letters: a periodic value would let chunks match off
		// their own offsets.
		rng := rand.New(rand.NewPCG(uint64(n), 1))
		v := make([]byte, n)
		for i := range v {
			v[i] = 'a' + byte(rng.IntN(26))
		}
		var out bytes.Buffer
		w := NewWriter(&out, Forms(v), 0)
		_, _ = w.Write([]byte("<"))
		_, _ = w.Write(v)
		_, _ = w.Write([]byte(">"))
		_ = w.Close()
		if got := out.String(); strings.Trim(got, "<*>") != "" || !strings.HasPrefix(got, "<*****") || !strings.HasSuffix(got, "*****>") {
			t.Errorf("value of %d bytes: %d bytes of it show", n, len(strings.Trim(got, "<*>")))
		}
	}
}

// Python's json.dumps and `echo "$S" | base64` are how a task most likely
// re-encodes a value.
func TestCommonToolForms(t *testing.T) {
	v := []byte("pässwörd-😀-" + strings.Repeat("x", 60))
	py := `p\u00e4ssw\u00f6rd-\ud83d\ude00-` + strings.Repeat("x", 60)
	echoB64 := base64.StdEncoding.EncodeToString(append(bytes.Clone(v), '\n'))
	wrapped := echoB64[:76] + "\n" + echoB64[76:]
	var out bytes.Buffer
	w := NewWriter(&out, Forms(v), 0)
	_, _ = w.Write([]byte("py: " + py + "\nb64: " + wrapped + "\n"))
	_ = w.Close()
	if got := out.String(); got != "py: *****\nb64: *****\n" {
		t.Fatalf("got %q", got)
	}
}

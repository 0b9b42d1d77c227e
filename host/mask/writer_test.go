package mask

import (
	"bytes"
	"encoding/base64"
	"strings"
	"sync"
	"testing"
	"time"
)

func maskAll(t *testing.T, patterns [][]byte, chunks ...string) string {
	t.Helper()
	var out bytes.Buffer
	w := NewWriter(&out, patterns, 0)
	for _, c := range chunks {
		if _, err := w.Write([]byte(c)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestForms(t *testing.T) {
	v := []byte("pa\"ss<\n\\wörd")
	forms := Forms(v)
	want := []string{string(v), base64.StdEncoding.EncodeToString(v), `pa\"ss\u003c\n\\wörd`, `pa\"ss<\n\\wörd`}
	for _, w := range want {
		found := false
		for _, f := range forms {
			found = found || string(f) == w
		}
		if !found {
			t.Errorf("missing form %q", w)
		}
	}
	if Forms([]byte("abc")) != nil {
		t.Error("a 3-byte value has forms")
	}
}

func TestSplitWrites(t *testing.T) {
	secret := "s3cr3t-value"
	input := "before " + secret + " middle " + secret + " after\n"
	pats := Forms([]byte(secret))
	want := "before ***** middle ***** after\n"
	for i := 0; i <= len(input); i++ {
		for j := i; j <= len(input); j++ {
			if got := maskAll(t, pats, input[:i], input[i:j], input[j:]); got != want {
				t.Fatalf("split %d,%d: %q", i, j, got)
			}
		}
	}
	var bytewise []string
	for _, c := range input {
		bytewise = append(bytewise, string(c))
	}
	if got := maskAll(t, pats, bytewise...); got != want {
		t.Fatalf("byte by byte: %q", got)
	}
}

func TestEncodedAndMultiline(t *testing.T) {
	pem := "-----BEGIN KEY-----\nMIIabc\ndef==\n-----END KEY-----"
	pats := append(Forms([]byte(pem)), Forms([]byte("tok3n-xyz"))...)
	in := "json: {\"k\": \"-----BEGIN KEY-----\\nMIIabc\\ndef==\\n-----END KEY-----\"}\nraw:\n" + pem + "\nb64: " +
		base64.StdEncoding.EncodeToString([]byte("tok3n-xyz")) + "\n\x1b[31mred\x1b[0m\n"
	got := maskAll(t, pats, in)
	want := "json: {\"k\": \"*****\"}\nraw:\n*****\nb64: *****\n\x1b[31mred\x1b[0m\n"
	if got != want {
		t.Fatalf("got %q", got)
	}
}

func TestPrefixHeldThenReleased(t *testing.T) {
	var out syncBuf
	w := NewWriter(&out, [][]byte{[]byte("secret-value")}, 20*time.Millisecond)
	w.Write([]byte("no match here, then secr"))
	if got := out.String(); got != "no match here, then " {
		t.Fatalf("emitted before hold: %q", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for out.String() != "no match here, then secr" {
		if time.Now().After(deadline) {
			t.Fatalf("held bytes never released: %q", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestOverlapLongestWins(t *testing.T) {
	got := maskAll(t, [][]byte{[]byte("abcd"), []byte("abcdefgh")}, "xx abcdefgh abcdzz")
	if got != "xx ***** *****zz" {
		t.Fatalf("got %q", got)
	}
}

func TestConcurrentWriters(t *testing.T) {
	var out syncBuf
	w := NewWriter(&out, [][]byte{[]byte("topsecret")}, 0)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				w.Write([]byte("line topsecret\n"))
			}
		}()
	}
	wg.Wait()
	w.Close()
	if strings.Contains(out.String(), "topsecret") || strings.Count(out.String(), "*****") != 800 {
		t.Fatal("concurrent writes leaked or lost a value")
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func FuzzWriter(f *testing.F) {
	f.Add("hello secret-one world", uint8(3), uint8(9))
	f.Fuzz(func(t *testing.T, text string, a, b uint8) {
		pats := [][]byte{[]byte("secret-one"), []byte("other-val")}
		one := maskAll(t, pats, text)
		i, j := int(a)%(len(text)+1), int(b)%(len(text)+1)
		if i > j {
			i, j = j, i
		}
		if split := maskAll(t, pats, text[:i], text[i:j], text[j:]); split != one {
			t.Fatalf("split output %q differs from one-shot %q", split, one)
		}
		if strings.Contains(one, "secret-one") || strings.Contains(one, "other-val") {
			t.Fatalf("pattern survived: %q", one)
		}
	})
}

func BenchmarkWriter(b *testing.B) {
	line := bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog 0123456789\n"), 64)
	var pats [][]byte
	for i := range 10 {
		pats = append(pats, Forms([]byte("secret-value-"+strings.Repeat("x", i)))...)
	}
	b.Run("plain", func(b *testing.B) {
		b.SetBytes(int64(len(line)))
		for b.Loop() {
			_, _ = bytes.NewReader(line).WriteTo(discard{})
		}
	})
	b.Run("masked", func(b *testing.B) {
		w := NewWriter(discard{}, pats, 0)
		b.SetBytes(int64(len(line)))
		for b.Loop() {
			_, _ = w.Write(line)
		}
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

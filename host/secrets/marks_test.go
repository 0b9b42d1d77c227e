package secrets

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/seal"
	"github.com/flytesecrets/flyte/host/state"
)

func testID(project, key string, inc byte) markID {
	return markID{scope: abi.Scope{Org: "acme", Project: project}, key: key, incarnation: seal.Incarnation{inc}}
}

func TestMarksRoundTrip(t *testing.T) {
	ms := newMarks()
	if !ms.raise(testID("", "K", 1), 3) || ms.raise(testID("", "K", 1), 2) || ms.raise(testID("", "K", 1), 3) {
		t.Fatal("raise must only go up")
	}
	ms.raise(testID("p", "K", 2), 1)
	b := ms.encode()
	want := "flyte-versions 1\n" +
		"01000000000000000000000000000000 3 acme @ @ K\n" +
		"02000000000000000000000000000000 1 acme p @ K\n"
	if string(b) != want {
		t.Fatalf("encoded %q", b)
	}
	back, err := parseMarks(b)
	if err != nil || !bytes.Equal(back.encode(), b) || back.seen(testID("", "K", 1)) != 3 || back.newestOf(keyIn{abi.Scope{Org: "acme", Project: "p"}, "K"}) != 1 {
		t.Fatalf("%v", err)
	}
}

func TestMarksParseErrors(t *testing.T) {
	inc := strings.Repeat("ab", seal.IncarnationSize)
	for _, c := range []struct{ in, want string }{
		{"garbage\n", "not a marks file"},
		{"flyte-versions 1\n" + inc + " 1 acme @ @ K", "line 2 is not terminated"},
		{"flyte-versions 1\n" + inc + " 1 acme @ K\n", "line 2 has 5 fields"},
		{"flyte-versions 1\n" + inc[2:] + " 1 acme @ @ K\n", "line 2: bad incarnation"},
		{"flyte-versions 1\n" + strings.Repeat("zz", 16) + " 1 acme @ @ K\n", "line 2: bad incarnation"},
		{"flyte-versions 1\n" + inc + " 0 acme @ @ K\n", "line 2: bad version"},
		{"flyte-versions 1\n" + inc + " 01 acme @ @ K\n", "line 2: bad version"},
		{"flyte-versions 1\n" + inc + " -1 acme @ @ K\n", "line 2: bad version"},
		{"flyte-versions 1\n" + inc + " 1 acme @ @ K\x1b\n", "line 2: bad name"},
		{"flyte-versions 1\n" + inc + " 1 @ @ @ K\n", "line 2: bad name"},
		{"flyte-versions 1\n" + inc + " 1 acme  @ K\n", "line 2: bad name"},
		{"flyte-versions 1\n" + inc + " 1 acme @ @ K\n" + inc + " 2 acme @ @ K\n", "line 3 repeats an earlier one"},
	} {
		if _, err := parseMarks([]byte(c.in)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("parse %q: %v, want %q", c.in, err, c.want)
		}
	}
}

// The file stays bounded: a few incarnations per key, and a total.
func TestMarksBounded(t *testing.T) {
	ms := newMarks()
	for i := range 10 {
		ms.raise(testID("", "K", byte(i)), 1)
	}
	if len(ms.order) != maxIncarnations || ms.seen(testID("", "K", 9)) != 1 || ms.seen(testID("", "K", 0)) != 0 {
		t.Fatalf("%d incarnations kept", len(ms.order))
	}
	if _, err := parseMarks(ms.encode()); err != nil {
		t.Fatal(err)
	}
	ms = newMarks()
	for i := range maxMarks + 10 {
		ms.raise(testID("", fmt.Sprintf("K%d", i), 0), 1)
	}
	ms.trim()
	if len(ms.order) != maxMarks || len(ms.version) != maxMarks || ms.seen(testID("", "K0", 0)) != 0 {
		t.Fatalf("%d marks kept", len(ms.order))
	}
	b := ms.encode()
	if len(b) != len(marksHeader)+ms.size || len(b) > state.MaxFile {
		t.Fatalf("a full marks file is %d bytes (size %d)", len(b), ms.size)
	}
	if _, err := parseMarks(b); err != nil {
		t.Fatal(err)
	}
	// Long names: the byte bound holds before the count does.
	ms = newMarks()
	long := strings.Repeat("k", 128)
	sc := abi.Scope{Org: "acme", Project: strings.Repeat("p", 63), Domain: "development"}
	for i := range maxMarks {
		ms.raise(markID{sc, fmt.Sprintf("%s%d", long, i), seal.Incarnation{}}, uint64(i+1))
	}
	b = ms.encode()
	if len(b) != len(marksHeader)+ms.size || ms.size > maxMarksBytes || len(ms.order) == maxMarks {
		t.Fatalf("long names: %d bytes, %d marks", len(b), len(ms.order))
	}
	if _, err := parseMarks(b); err != nil {
		t.Fatal(err)
	}
}

// FuzzParseMarks: the parser never panics, and whatever it accepts encodes
// back to the same bytes (so nothing is silently dropped or reinterpreted).
func FuzzParseMarks(f *testing.F) {
	ms := newMarks()
	ms.raise(testID("", "K", 1), 3)
	ms.raise(testID("p", "K", 2), 1)
	f.Add(ms.encode())
	f.Add([]byte{})
	f.Add([]byte(marksHeader))
	f.Add([]byte("flyte-versions 1\n" + strings.Repeat("0", 32) + " 18446744073709551615 a b c d\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseMarksOf(b, map[string]bool{"K": true, "": true}) // never panics
		ms, err := parseMarks(b)
		if err != nil {
			return
		}
		if len(b) > 0 && !bytes.Equal(ms.encode(), b) {
			t.Fatalf("%q encodes back as %q", b, ms.encode())
		}
	})
}

// A read for a few keys parses only their lines.
func TestMarksParseOf(t *testing.T) {
	ms := newMarks()
	ms.raise(testID("", "A", 1), 3)
	ms.raise(testID("p", "B", 2), 1)
	ms.raise(testID("", "AB", 3), 2)
	b := append(ms.encode(), "not even a line of the format B\n"...)
	only, err := parseMarksOf(b, map[string]bool{"A": true})
	if err != nil || len(only.order) != 1 || only.seen(testID("", "A", 1)) != 3 {
		t.Fatalf("%+v %v", only, err)
	}
	if _, err := parseMarksOf(b, map[string]bool{"B": true}); err == nil {
		t.Fatal("a damaged line of a key asked for was accepted")
	}
	if _, err := parseMarks(b); err == nil {
		t.Fatal("a damaged line was accepted")
	}
}

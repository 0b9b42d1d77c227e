//go:build linux && !flytepgroup

package task

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/flytesecrets/flyte/host/inject"
)

// The helper's instructions survive the pipe exactly, empty arguments and
// binary values included.
func TestInitSpecRoundTrip(t *testing.T) {
	in := &initSpec{
		Path:  "/bin/sh",
		Args:  []string{"sh", "", "-c", "echo hi"},
		Env:   []string{"A=1", "EMPTY="},
		Files: []inject.File{{Name: "k", Mode: 0o400, Value: []byte("v\x00\xff")}, {Name: "k2", Mode: 0o440, Value: []byte("w")}},
		PIDNS: true, TTY: true, Parent: 4242,
	}
	out, err := decodeInit(encodeInit(in))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("got %+v\nwant %+v", out, in)
	}
	if _, err := decodeInit([]byte{0x22, 0x05}); err == nil {
		t.Fatal("truncated instructions decoded")
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	if got := unescapeMountinfo(`/etc/with\040space\134x`); got != `/etc/with space\x` {
		t.Fatalf("got %q", got)
	}
}

func TestDecodeStatus(t *testing.T) {
	if e, ok := decodeStatus([]byte("N6mount: denied")).(*NamespaceError); !ok || e.Error() != "file secrets need a private mount namespace, and this system refused one: mount: denied" {
		t.Fatalf("namespace status: %v", e)
	}
	if e, ok := decodeStatus([]byte("S7/x: not found")).(*StartError); !ok || e.Code != 127 {
		t.Fatalf("start status: %v", e)
	}
}

func TestParseStatPPID(t *testing.T) {
	for in, want := range map[string]int{
		"42 (sh) S 7 42 42 0 -1":            7,
		"42 (a) b) (c) R 1 42 42 0 -1":      1,
		"42 (x\nS 99 y) Z 3 0 0 0 -1":       3,
		"42 () S 0 0 0":                     0,
		"42 (sleep 1001) S 123456 1 1 0 -1": 123456,
	} {
		if got, ok := parseStatPPID([]byte(in)); !ok || got != want {
			t.Errorf("%q: got %d %v, want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "42 (sh", "42 (sh) S", "42 (sh) S x", "42 (sh) S -5"} {
		if _, ok := parseStatPPID([]byte(in)); ok {
			t.Errorf("%q parsed", in)
		}
	}
}

func FuzzParseStatPPID(f *testing.F) {
	f.Add([]byte("42 (sh) S 7 42 42 0 -1"))
	f.Add([]byte("1 (a) b) R 0"))
	f.Add([]byte(")"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, ok := parseStatPPID(b); ok && p < 0 {
			t.Fatalf("negative ppid %d", p)
		}
	})
}

func FuzzDecodeInit(f *testing.F) {
	f.Add(encodeInit(&initSpec{Path: "/bin/sh", Args: []string{"sh", ""}, Env: []string{"A=1"},
		Files: []inject.File{{Name: "k", Mode: 0o400, Value: []byte("v")}}, PIDNS: true}))
	f.Add([]byte{0x22, 0x05})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeInit(b)
		if err != nil {
			return
		}
		// What decodes re-encodes to a fixed point.
		enc := encodeInit(s)
		again, err := decodeInit(enc)
		if err != nil || !bytes.Equal(enc, encodeInit(again)) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, s, again)
		}
	})
}

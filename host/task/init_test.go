package task

import (
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
		Stage: "/tmp/flyte-task-1",
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

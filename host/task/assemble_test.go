package task

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/flytesecrets/flyte/host/inject"
	"github.com/flytesecrets/flyte/host/mask"
)

func TestEnvironment(t *testing.T) {
	parent := []string{"PATH=/bin", "TOKEN=old", "HOME=/root", "EMPTY="}
	got := Environment(parent, []inject.EnvVar{{Name: "TOKEN", Value: []byte("new")}, {Name: "EXTRA", Value: []byte("x=y")}})
	want := []string{"PATH=/bin", "HOME=/root", "EMPTY=", "TOKEN=new", "EXTRA=x=y"}
	if !slices.Equal(got, want) {
		t.Errorf("Environment = %q, want %q", got, want)
	}
}

func TestPreparedSpec(t *testing.T) {
	p := &Prepared{
		Env:       []inject.EnvVar{{Name: "API", Value: []byte("api-value")}},
		Files:     []inject.File{{Name: "cert", Mode: 0o400, Value: []byte("cert-value")}},
		Secrets:   [][]byte{[]byte("api-value"), []byte("cert-value")},
		Mask:      [][]byte{[]byte("AGE-SECRET-KEY-1ABC")},
		MaskWhole: [][]byte{[]byte("user=api-value")},
	}
	environ := []string{"PATH=/bin", "FLYTE_IDENTITY=AGE-SECRET-KEY-1ABC", "FLYTE_IDENTITY_FILE=/id", "FLYTE_IDENTITY_CMD=pass", "API=parent"}
	c := Command{Path: "/bin/true", Args: []string{"true"}, Environ: environ, Self: "/flyte"}

	spec := p.Spec(c)
	if !slices.Equal(spec.Env, []string{"PATH=/bin", "API=api-value"}) {
		t.Errorf("Env = %q: the identity variables must go, API be replaced", spec.Env)
	}
	if spec.Mask != nil || spec.Path != "/bin/true" || spec.Self != "/flyte" || len(spec.Files) != 1 {
		t.Errorf("unmasked spec = %+v", spec)
	}

	p.Masked = true
	spec = p.Spec(c)
	var want [][]byte
	for _, v := range [][]byte{[]byte("api-value"), []byte("cert-value"), []byte("AGE-SECRET-KEY-1ABC")} {
		want = append(want, mask.Forms(v)...)
	}
	want = append(want, mask.WholeForms([]byte("user=api-value"))...)
	if len(spec.Mask) != len(want) {
		t.Fatalf("%d forms masked, want %d", len(spec.Mask), len(want))
	}
	for i := range want {
		if !bytes.Equal(spec.Mask[i], want[i]) {
			t.Fatalf("form %d differs", i)
		}
	}

	// Nothing to mask still masks (an empty list is not nil).
	if s := (&Prepared{Masked: true}).Spec(c); s.Mask == nil {
		t.Error("a masked task without values has a nil Mask")
	}

	p.Wipe()
	for _, b := range [][]byte{p.Env[0].Value, p.Files[0].Value, p.Secrets[1], p.Mask[0], p.MaskWhole[0]} {
		if strings.Trim(string(b), "\x00") != "" {
			t.Error("Wipe left a value")
		}
	}
	(*Prepared)(nil).Wipe()
}

//go:build linux && !flytepgroup

package task

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/flytesecrets/flyte/host/inject"
	"github.com/flytesecrets/flyte/host/mask"
)

// TestMain makes the test binary the task's helper when started as one,
// as flyte's main does.
func TestMain(m *testing.M) {
	if len(os.Args) == 2 && os.Args[1] == InitArg {
		InitMain()
	}
	os.Exit(m.Run())
}

// benchSpec is the bench's task: 2 env and 2 file secrets, masked.
func benchSpec(tb testing.TB, files bool, stdout, stderr *bytes.Buffer) Spec {
	tb.Helper()
	self, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	path, err := exec.LookPath("true")
	if err != nil {
		tb.Skip("no true")
	}
	values := [][]byte{[]byte("bench-task-value-E1"), []byte("bench-task-value-E2"), []byte("bench-task-value-F1"), []byte("bench-task-value-F2")}
	s := Spec{Path: path, Args: []string{"true"}, Env: append(os.Environ(), "E1="+string(values[0]), "E2="+string(values[1])),
		Stdout: stdout, Stderr: stderr, Self: self, Mask: [][]byte{}}
	if files {
		s.Files = []inject.File{{Name: "F1", Mode: 0o400, Value: values[2]}, {Name: "F2", Mode: 0o400, Value: values[3]}}
	}
	for _, v := range values {
		s.Mask = append(s.Mask, mask.Forms(v)...)
	}
	return s
}

// canNamespace says whether this process may make the namespaces file
// secrets need.
func canNamespace(tb testing.TB) {
	tb.Helper()
	var out, errb bytes.Buffer
	s := benchSpec(tb, true, &out, &errb)
	if _, err := Run(s); err != nil {
		tb.Skipf("no namespaces here: %v", err)
	}
}

// A task with files and one without run, are masked, and report their
// exit status.
func TestRunMasksAndExits(t *testing.T) {
	for _, files := range []bool{false, true} {
		if files {
			canNamespace(t)
		}
		var out, errb bytes.Buffer
		s := benchSpec(t, files, &out, &errb)
		s.Path, s.Args = "/bin/sh", []string{"sh", "-c", `echo "$E1"; ls /etc/flyte/secrets 2>/dev/null; test -e /etc/flyte/secrets/F2 && cat /etc/flyte/secrets/F2 >&2; exit 3`}
		code, err := Run(s)
		if err != nil || code != 3 {
			t.Fatalf("files=%v: %d %v", files, code, err)
		}
		want := "*****\n"
		if files {
			want += "F1\nF2\n"
		}
		if out.String() != want {
			t.Fatalf("files=%v: stdout %q", files, out.String())
		}
		if files && errb.String() != "*****" || !files && errb.String() != "" {
			t.Fatalf("files=%v: stderr %q", files, errb.String())
		}
	}
}

// BenchmarkRun runs the bench's task (`flyte run ENV -- true`) from its
// spec: the helper, the namespaces and mounts, the masker, the command.
func BenchmarkRun(b *testing.B) {
	for _, c := range []struct {
		name  string
		files bool
	}{{"envonly", false}, {"files", true}} {
		b.Run(c.name, func(b *testing.B) {
			if c.files {
				canNamespace(b)
			}
			var out, errb bytes.Buffer
			for b.Loop() {
				s := benchSpec(b, c.files, &out, &errb)
				if code, err := Run(s); err != nil || code != 0 {
					b.Fatalf("%d %v: %s", code, err, strings.TrimSpace(errb.String()))
				}
			}
		})
	}
}

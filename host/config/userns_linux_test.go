package config

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestParseIDMap(t *testing.T) {
	for _, tt := range []struct {
		text              string
		ok, initial, free bool // free: 65534 is unmapped
	}{
		{"         0          0 4294967295\n", true, true, false},
		{"         0       1000          1\n", true, false, true},
		{"0 1000 1\n1 100000 65536\n", true, false, false},
		{"0 0 65534\n", true, false, true},
		{"", false, false, false},
		{"0 0\n", false, false, false},
		{"0 0 x\n", false, false, false},
		{"0 0 4294967296\n", false, false, false},
	} {
		ranges, ok := parseIDMap(tt.text)
		if ok != tt.ok || ok && (initialMap(ranges) != tt.initial || unmapped(ranges, 65534) != tt.free) {
			t.Errorf("%q: ok %v, initial %v, 65534 unmapped %v; want %v, %v, %v", tt.text, ok, initialMap(ranges), unmapped(ranges, 65534), tt.ok, tt.initial, tt.free)
		}
	}
}

// FuzzParseIDMap: any text parses or is refused; what parses fits in 32 bits.
func FuzzParseIDMap(f *testing.F) {
	for _, s := range []string{"0 0 4294967295\n", "0 1000 1\n1 100000 65536\n", "", "\n\n", "0 0 -1", " 1  2  3 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		ranges, ok := parseIDMap(text)
		if !ok {
			return
		}
		for _, r := range ranges {
			if r.inside >= 1<<32 || r.outside >= 1<<32 || r.count >= 1<<32 {
				t.Fatalf("%+v", r)
			}
		}
		unmapped(ranges, 65534)
	})
}

const usernsEnv = "FLYTE_TEST_USERNS_DIR"

// TestReadInRootlessContainer: inside a user namespace that maps only root (as a rootless container
// does), a directory above the file owned by an unmapped user shows as the overflow uid and is accepted
// when group and others may not write it; outside the namespace, the same directory is refused.
func TestReadInRootlessContainer(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root on Linux to give a directory to another user")
	}
	base := t.TempDir()
	for _, d := range []struct {
		name string
		mode os.FileMode
	}{{"narrow", 0o755}, {"wide", 0o775}} {
		proj := filepath.Join(base, d.name, "proj")
		if err := os.MkdirAll(proj, 0o755); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(proj, FileName), "organization = \"acme\"\n")
		if err := os.Chown(filepath.Join(base, d.name), 12345, 12345); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(base, d.name), d.mode); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(base, "narrow", "proj", FileName)
	if _, err := Read(Found{p, SourceSearch}); err == nil || !strings.HasSuffix(err.Error(), "narrow is owned by uid 12345, not by you or root") {
		t.Fatalf("in the initial namespace: %v", err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRootlessChild$", "-test.v")
	cmd.Env = append(os.Environ(), usernsEnv+"="+base)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		if strings.Contains(err.Error(), "operation not permitted") || strings.Contains(err.Error(), "invalid argument") {
			t.Skipf("no user namespaces here: %v", err)
		}
		t.Fatalf("in a user namespace: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestRootlessChild") {
		t.Fatalf("the child did not run:\n%s", out)
	}
}

// TestRootlessChild runs inside TestReadInRootlessContainer's user namespace.
func TestRootlessChild(t *testing.T) {
	base := os.Getenv(usernsEnv)
	if base == "" {
		t.Skip("run by TestReadInRootlessContainer")
	}
	if !unmappedOwner(65534) {
		t.Fatal("unmappedOwner(65534) is false in a namespace that maps only root")
	}
	if _, err := Read(Found{filepath.Join(base, "narrow", "proj", FileName), SourceSearch}); err != nil {
		t.Fatalf("narrow: %v", err)
	}
	_, err := Read(Found{filepath.Join(base, "wide", "proj", FileName), SourceSearch})
	var h interface{ Hint() string }
	if err == nil || !strings.HasSuffix(err.Error(), "wide is owned by uid 65534, not by you or root") || !errors.As(err, &h) ||
		h.Hint() != "its owner is outside this user namespace (a rootless container), which flyte accepts only for a directory group and others may not write" {
		t.Fatalf("wide: %v", err)
	}
}

//go:build !wasip1

package filestore

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flytesecrets/flyte/abi"
)

// oldFilestoreCommit is the last commit whose filestore knows only the
// layout of one file per record (format 1).
const oldFilestoreCommit = "d0f36771f93dd441bb2a242e13b4ce2b28a3c652"

// oldFilestoreWasm builds the filestore plugin of oldFilestoreCommit from
// git history (git archive, then the Makefile's wasm build), once per
// machine: the module is kept in the user's cache directory. Outside a git
// checkout the test skips.
func oldFilestoreWasm(t *testing.T) []byte {
	t.Helper()
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not a git checkout (%v): the older filestore is built from git history", err)
	}
	root := strings.TrimSpace(string(out))
	if exec.Command("git", "-C", root, "cat-file", "-e", oldFilestoreCommit+"^{commit}").Run() != nil {
		// Only a shallow clone may lack it; a full one failing is a bug.
		if sh, _ := exec.Command("git", "-C", root, "rev-parse", "--is-shallow-repository").Output(); strings.TrimSpace(string(sh)) == "true" {
			t.Skipf("a shallow clone: commit %s, whose filestore this test builds, is not in it", oldFilestoreCommit[:12])
		}
		t.Fatalf("commit %s is not in this repository's history", oldFilestoreCommit[:12])
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	cached := filepath.Join(cache, "flyte-test", "filestore-"+oldFilestoreCommit[:12]+".wasm")
	if b, err := os.ReadFile(cached); err == nil && len(b) > 0 {
		return b
	}
	src := t.TempDir()
	archive := exec.Command("sh", "-c", `git -C "$1" archive "$2" abi plugins go.mod go.sum | tar -x -C "$3"`, "sh", root, oldFilestoreCommit, src)
	if b, err := archive.CombinedOutput(); err != nil {
		t.Fatalf("git archive %s: %v\n%s", oldFilestoreCommit, err, b)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go is not on $PATH: %v", err)
	}
	wasm := filepath.Join(src, "filestore.wasm")
	build := exec.Command(goBin, "build", "-buildmode=c-shared", "-trimpath", "-ldflags=-s", "-o", wasm, "./plugins/filestore/wasm")
	build.Dir = src
	build.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOWORK=off", "GOFLAGS=-mod=mod")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the filestore of %s: %v\n%s", oldFilestoreCommit, err, b)
	}
	b, err := os.ReadFile(wasm)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(cached), 0o700); err == nil {
		tmp := cached + fmt.Sprintf(".%d", os.Getpid())
		if os.WriteFile(tmp, b, 0o600) == nil {
			_ = os.Rename(tmp, cached)
		}
	}
	return b
}

// An older flyte, whose filestore knows only format 1, refuses a store of
// format 2 (converted, or being converted) for every record operation,
// with an error, and changes nothing in it: its filestore opens
// secrets/ORG/..., and secrets is the marker, a regular file.
func TestOlderFlyteRefusesNewStore(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the older filestore from git history (-short)")
	}
	wasm := oldFilestoreWasm(t)
	for _, state := range []string{"converted", "converting"} {
		t.Run(state, func(t *testing.T) {
			dir := t.TempDir()
			if state == "converting" {
				defer func(n int) { convertBatch = n }(convertBatch)
				convertBatch = 2
				oldStore(t, dir, 10)
			}
			const envelope = "the data key's envelope"
			onDir(t, dir, true, func(s *Store) {
				if _, err := s.MetaPut("datakey", []byte(envelope), true); err != nil {
					t.Fatal(err)
				}
				if _, err := s.Create(&abi.Record{Scope: abi.Scope{Org: "acme"}, Key: "A", Kind: abi.SecretString, Sealed: []byte("a")}); err != nil {
					t.Fatal(err)
				}
			})
			if got := markerOf(t, dir); state == "converted" && got != markerDone || state == "converting" && got != markerConverting {
				t.Fatalf("marker %q", got)
			}
			before := snapshot(t, dir)
			p := loadModule(t, wasm, dir)
			guard := &abi.Guard{Name: "datakey", Value: []byte(envelope)}
			rec := abi.Record{Scope: abi.Scope{Org: "acme"}, Key: "B", Kind: abi.SecretString, Sealed: []byte("b")}
			key := abi.KeyRequest{Scope: abi.Scope{Org: "acme"}, Key: "A"}
			for _, c := range []struct {
				name string
				op   abi.Op
				in   []byte
			}{
				{"get", abi.OpGet, abi.Marshal(&key)},
				{"list", abi.OpList, abi.Marshal(&abi.ListRequest{Org: "acme"})},
				{"list all", abi.OpList, abi.Marshal(&abi.ListRequest{AllOrgs: true})},
				{"guarded create", abi.OpCreate, abi.Marshal(&abi.WriteRequest{Record: rec, Guard: guard})},
				{"create", abi.OpCreate, abi.Marshal(&abi.WriteRequest{Record: rec})},
				{"update", abi.OpUpdate, abi.Marshal(&abi.WriteRequest{Record: abi.Record{Scope: key.Scope, Key: "A", Sealed: []byte("a2")}, Guard: guard})},
				{"delete", abi.OpDelete, abi.Marshal(&key)},
			} {
				_, err := p.Call(context.Background(), c.op, c.in)
				// A listing of every organization lists secrets itself,
				// which fails as an internal error.
				if err == nil || c.name != "list all" && !strings.Contains(err.Error(), "not a directory") {
					t.Errorf("older flyte's %s: %v; want an error (not a directory)", c.name, err)
				}
				t.Logf("older flyte's %s: %v", c.name, err)
			}
			if after := snapshot(t, dir); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Fatal("the older flyte changed the store")
			}
		})
	}
}

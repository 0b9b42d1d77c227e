package secrets_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/fsgrant"
	"github.com/flytesecrets/flyte/host/scope"
	"github.com/flytesecrets/flyte/host/secrets"
)

// machine is one user's flyte on one machine: its identity and state
// directory, over a store directory that several machines may share.
type machine struct {
	identity, state string
}

func newMachine(t *testing.T) machine {
	d := t.TempDir()
	return machine{identity: filepath.Join(d, "identity.txt"), state: filepath.Join(d, "state", "flyte")}
}

// open returns a Manager of organization acme for mc over the store in dir.
func (mc machine) open(t *testing.T, dir string) (*secrets.Manager, *nativeStore) {
	st := &nativeStore{dir: fsgrant.New(dir)}
	m := secrets.New(st, secrets.Options{Org: "acme", Identity: mc.identity, StateDir: mc.state})
	t.Cleanup(m.Close)
	return m, st
}

// newStateManager is newManager with a state directory.
func newStateManager(t *testing.T) (*secrets.Manager, *nativeStore, string) {
	mc := newMachine(t)
	dir := filepath.Join(t.TempDir(), "store")
	m, st := mc.open(t, dir)
	return m, st, dir
}

func mustCreate(t *testing.T, m *secrets.Manager, key, value string) secrets.Secret {
	t.Helper()
	s, err := m.Create(ctx, scope.Scope{}, key, abi.SecretString, []byte(value))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustUpdate(t *testing.T, m *secrets.Manager, key, value string) secrets.Secret {
	t.Helper()
	s, err := m.Update(ctx, scope.Scope{}, key, abi.SecretString, []byte(value), 0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func recordFile(dir, key string) string {
	return filepath.Join(dir, "secrets", "acme", "@", "@", key)
}

const rolledBack = "rolled back: version 2 is older than version 3 seen on this machine"

// A store that puts back an older record after an update is caught by every
// read on a machine that saw the newer version: listing, a task's
// resolution and an update. Nothing else about the record is wrong: its
// sealed value, version and times are all genuine, only old.
func TestRollbackDetected(t *testing.T) {
	mc := newMachine(t)
	dir := filepath.Join(t.TempDir(), "store")
	m, _ := mc.open(t, dir)
	mustCreate(t, m, "K", "value-1")
	mustCreate(t, m, "OTHER", "other-1")
	mustUpdate(t, m, "K", "value-2")
	old, err := os.ReadFile(recordFile(dir, "K"))
	if err != nil {
		t.Fatal(err)
	}
	if s := mustUpdate(t, m, "K", "value-3"); s.Version != 3 || !s.SealedVersion {
		t.Fatalf("update: %+v", s)
	}
	if err := os.WriteFile(recordFile(dir, "K"), old, 0o600); err != nil {
		t.Fatal(err)
	}

	res, err := m.List(ctx, secrets.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Secrets) != 1 || res.Secrets[0].Key != "OTHER" || len(res.Damaged) != 1 ||
		res.Damaged[0].Key != "K" || res.Damaged[0].Reason != rolledBack {
		t.Fatalf("list: secrets %+v damaged %+v", res.Secrets, res.Damaged)
	}

	r, err := m.Resolve(ctx, "", "", []string{"OTHER", "K"})
	var rb *secrets.RollbackError
	if r != nil || !errors.As(err, &rb) || rb.Version != 2 || rb.Seen != 3 {
		t.Fatalf("resolve: %v %v", r, err)
	}
	if want := "secret K in organization scope was " + rolledBack; err.Error() != want {
		t.Fatalf("resolve: %q, want %q", err, want)
	}

	// An update does not build on a rolled-back record.
	if _, err := m.Update(ctx, scope.Scope{}, "K", abi.SecretString, []byte("value-4"), 0); !errors.As(err, &rb) {
		t.Fatalf("update over a rollback: %v", err)
	}
	if b, _ := os.ReadFile(recordFile(dir, "K")); string(b) != string(old) {
		t.Fatal("the update over a rollback wrote the store")
	}

	// Another machine, which never saw version 3, cannot tell.
	other, _ := machine{identity: mc.identity, state: filepath.Join(t.TempDir(), "flyte")}.open(t, dir)
	if res, err := other.List(ctx, secrets.Filter{}); err != nil || len(res.Damaged) != 0 || len(res.Secrets) != 2 {
		t.Fatalf("fresh machine: %+v %v", res, err)
	}

	// Deleting and creating the key again starts a new incarnation: its
	// version 1 is no rollback of the old incarnation's version 3.
	if err := m.Delete(ctx, scope.Scope{}, "K"); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, m, "K", "value-new")
	res, err = m.List(ctx, secrets.Filter{})
	if err != nil || len(res.Damaged) != 0 || len(res.Secrets) != 2 || res.Secrets[0].Version != 1 {
		t.Fatalf("after delete and create: %+v %v", res, err)
	}
	if r, err := m.Resolve(ctx, "", "", []string{"K"}); err != nil || string(r[0].Value) != "value-new" {
		t.Fatalf("resolve after delete and create: %v", err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A store that answers with an older record while its listing is current
// is caught at resolution, before a task gets the old value.
func TestRollbackOnGetOnly(t *testing.T) {
	m, st, dir := newStateManager(t)
	mustCreate(t, m, "K", "value-1")
	mustUpdate(t, m, "K", "value-2")
	old, _ := os.ReadFile(recordFile(dir, "K"))
	mustUpdate(t, m, "K", "value-3")
	if res, err := m.List(ctx, secrets.Filter{}); err != nil || len(res.Damaged) != 0 {
		t.Fatalf("%+v %v", res, err)
	}
	st.tamper = func(op abi.Op, out []byte) []byte {
		if op == abi.OpGet {
			return old[len("flyterec1\n"):]
		}
		return out
	}
	_, err := m.Resolve(ctx, "", "", []string{"K"})
	var rb *secrets.RollbackError
	if !errors.As(err, &rb) || rb.Version != 2 || rb.Seen != 3 {
		t.Fatalf("resolve: %v", err)
	}
}

// A listing that saw version 2 before another flyte recorded version 3 is
// not a rollback: the record is read again after the marks, and the
// version it has now is listed.
func TestListRereadsBeforeCryingRollback(t *testing.T) {
	m, st, dir := newStateManager(t)
	mustCreate(t, m, "K", "value-1")
	mustUpdate(t, m, "K", "value-2")
	old, _ := os.ReadFile(recordFile(dir, "K"))
	mustUpdate(t, m, "K", "value-3")
	st.tamper = func(op abi.Op, out []byte) []byte {
		if op != abi.OpList {
			return out
		}
		var l abi.ListResponse
		_ = abi.Unmarshal(out, &l)
		_ = abi.Unmarshal(old[len("flyterec1\n"):], &l.Records[0]) // a listing from before version 3
		return abi.Marshal(&l)
	}
	res, err := m.List(ctx, secrets.Filter{})
	if err != nil || len(res.Damaged) != 0 || len(res.Secrets) != 1 || res.Secrets[0].Version != 3 {
		t.Fatalf("%+v %v", res, err)
	}
}

// The version and times a store claims must be the sealed ones.
func TestClaimedVersionOrTimesAltered(t *testing.T) {
	for _, f := range []struct {
		name  string
		alter func(r *abi.Record)
	}{
		{"version", func(r *abi.Record) { r.Version = 7 }},
		{"created", func(r *abi.Record) { r.Created-- }},
		{"updated", func(r *abi.Record) { r.Updated += 1e9 }},
	} {
		t.Run(f.name, func(t *testing.T) {
			m, st, _ := newStateManager(t)
			mustCreate(t, m, "K", "value-1")
			st.tamper = func(op abi.Op, out []byte) []byte {
				switch op {
				case abi.OpGet:
					var r abi.Record
					_ = abi.Unmarshal(out, &r)
					f.alter(&r)
					return abi.Marshal(&r)
				case abi.OpList:
					var l abi.ListResponse
					_ = abi.Unmarshal(out, &l)
					f.alter(&l.Records[0])
					return abi.Marshal(&l)
				}
				return out
			}
			res, err := m.List(ctx, secrets.Filter{})
			if err != nil || len(res.Secrets) != 0 || len(res.Damaged) != 1 || !strings.HasPrefix(res.Damaged[0].Reason, "version or times altered") {
				t.Fatalf("list: %+v %v", res, err)
			}
			want := "secret K in organization scope is damaged: version or times altered (they differ from what flyte sealed)"
			if _, err := m.Resolve(ctx, "", "", []string{"K"}); err == nil || err.Error() != want {
				t.Fatalf("resolve: %v", err)
			}
			if _, err := m.Update(ctx, scope.Scope{}, "K", abi.SecretString, []byte("value-2"), 0); err == nil || err.Error() != want {
				t.Fatalf("update: %v", err)
			}
		})
	}
}

// After a write, the version the store reports must be the one sealed.
func TestStoreReportsAnotherVersion(t *testing.T) {
	m, st, _ := newStateManager(t)
	st.tamper = func(op abi.Op, out []byte) []byte {
		if op != abi.OpCreate && op != abi.OpUpdate {
			return out
		}
		var r abi.Record
		_ = abi.Unmarshal(out, &r)
		r.Version += 10
		return abi.Marshal(&r)
	}
	_, err := m.Create(ctx, scope.Scope{}, "K", abi.SecretString, []byte("value-1"))
	if err == nil || err.Error() != "store reported version 11 for secret K, not the version 1 flyte sealed" {
		t.Fatalf("create: %v", err)
	}
	_, err = m.Update(ctx, scope.Scope{}, "K", abi.SecretString, []byte("value-2"), 0)
	if err == nil || err.Error() != "store reported version 12 for secret K, not the version 2 flyte sealed" {
		t.Fatalf("update: %v", err)
	}
}

// Concurrent plain updates, each from its own flyte (own Manager, shared
// store, identity and state directory), all succeed: each seals v+1 and
// writes only if the store is still at v, and starts again when another
// came first. Every version from 2 to 21 is handed out exactly once.
func TestConcurrentPlainUpdates(t *testing.T) {
	mc := newMachine(t)
	dir := filepath.Join(t.TempDir(), "store")
	m, _ := mc.open(t, dir)
	mustCreate(t, m, "K", "value-0")
	const n = 20
	versions := make([]uint64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		mi, _ := mc.open(t, dir)
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := mi.Update(ctx, scope.Scope{}, "K", abi.SecretString, []byte(fmt.Sprintf("value-%d", i+1)), 0)
			versions[i], errs[i] = s.Version, err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
	}
	slices.Sort(versions)
	for i, v := range versions {
		if v != uint64(i+2) {
			t.Fatalf("versions %v, want 2..%d once each", versions, n+1)
		}
	}
	res, err := m.List(ctx, secrets.Filter{})
	if err != nil || len(res.Damaged) != 0 || res.Secrets[0].Version != n+1 {
		t.Fatalf("%+v %v", res, err)
	}
	// The marks kept up: the highest version is the last one.
	b, err := os.ReadFile(marksFile(t, mc))
	if err != nil || !strings.Contains(string(b), fmt.Sprintf(" %d acme @ @ K\n", n+1)) {
		t.Fatalf("marks: %q %v", b, err)
	}
}

func marksFile(t *testing.T, mc machine) string {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(mc.state, "versions", "*"))
	for _, p := range matches {
		if !strings.HasSuffix(p, ".lock") {
			return p
		}
	}
	t.Fatalf("no marks file in %s", mc.state)
	return ""
}

// --if-version keeps compare-and-set semantics: no retry.
func TestIfVersionConflict(t *testing.T) {
	m, _, _ := newStateManager(t)
	mustCreate(t, m, "K", "value-1")
	mustUpdate(t, m, "K", "value-2")
	_, err := m.Update(ctx, scope.Scope{}, "K", abi.SecretString, []byte("value-3"), 1)
	var ce *secrets.ConflictError
	if !errors.As(err, &ce) || ce.Want != 1 || ce.Have != 2 {
		t.Fatalf("%v", err)
	}
	if s, err := m.Update(ctx, scope.Scope{}, "K", abi.SecretString, []byte("value-3"), 2); err != nil || s.Version != 3 {
		t.Fatalf("%+v %v", s, err)
	}
}

// Reads that change nothing write nothing, not even the state directory;
// a machine without a state directory path keeps no history.
func TestReadsWriteNoState(t *testing.T) {
	mc := newMachine(t)
	dir := filepath.Join(t.TempDir(), "store")
	m, _ := mc.open(t, dir)
	if _, err := m.List(ctx, secrets.Filter{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(mc.state); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("an empty listing made the state directory: %v", err)
	}
	mustCreate(t, m, "K", "value-1")
	p := marksFile(t, mc)
	before, _ := os.Stat(p)
	if _, err := m.List(ctx, secrets.Filter{}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Resolve(ctx, "", "", []string{"K"}); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.Stat(p); !after.ModTime().Equal(before.ModTime()) {
		t.Fatal("a read rewrote the marks")
	}
	none := secrets.New(&nativeStore{dir: fsgrant.New(dir)}, secrets.Options{Org: "acme", Identity: mc.identity})
	defer none.Close()
	if _, err := none.Update(ctx, scope.Scope{}, "K", abi.SecretString, []byte("value-2"), 0); err != nil {
		t.Fatal(err)
	}
}

// A damaged marks file stops reads with a clear error, not silently.
func TestDamagedMarksFile(t *testing.T) {
	mc := newMachine(t)
	dir := filepath.Join(t.TempDir(), "store")
	m, _ := mc.open(t, dir)
	mustCreate(t, m, "K", "value-1")
	if err := os.WriteFile(marksFile(t, mc), []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := m.List(ctx, secrets.Filter{})
	if err == nil || !strings.Contains(err.Error(), "are damaged: not a marks file") {
		t.Fatalf("%v", err)
	}
}

// A store written before versions were sealed still opens: its record is
// listed and resolved, marked as having no sealed version, and its next
// update seals one. Putting the old record back after that is a rollback.
func TestVersion1Store(t *testing.T) {
	tmp := t.TempDir()
	if err := os.CopyFS(tmp, os.DirFS("testdata/v1store")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(tmp, "identity.txt"), 0o600); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(tmp, "state")
	m := secrets.New(&nativeStore{dir: fsgrant.New(filepath.Join(tmp, "store"))},
		secrets.Options{Org: "default", Identity: filepath.Join(tmp, "identity.txt"), StateDir: state})
	defer m.Close()
	res, err := m.List(ctx, secrets.Filter{})
	if err != nil || len(res.Damaged) != 0 || len(res.Secrets) != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	if s := res.Secrets[0]; s.Key != "OLD_TOKEN" || s.Version != 1 || s.SealedVersion {
		t.Fatalf("%+v", s)
	}
	r, err := m.Resolve(ctx, "", "", []string{"OLD_TOKEN"})
	if err != nil || string(r[0].Value) != "old-value-1234" || r[0].SealedVersion {
		t.Fatalf("resolve: %v", err)
	}
	if _, err := os.Stat(filepath.Join(state, "versions")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("reading records without sealed versions recorded versions")
	}
	s, err := m.Update(ctx, scope.Scope{}, "OLD_TOKEN", abi.SecretString, []byte("new-value-5678"), 0)
	if err != nil || s.Version != 2 || !s.SealedVersion {
		t.Fatalf("update: %+v %v", s, err)
	}
	res, err = m.List(ctx, secrets.Filter{})
	if err != nil || len(res.Damaged) != 0 || !res.Secrets[0].SealedVersion || res.Secrets[0].Version != 2 {
		t.Fatalf("%+v %v", res, err)
	}
	copyFile(t, "testdata/v1store/store/secrets/default/@/@/OLD_TOKEN", filepath.Join(tmp, "store", "secrets", "default", "@", "@", "OLD_TOKEN"))
	res, err = m.List(ctx, secrets.Filter{})
	want := "rolled back: the record has no sealed version, but sealed version 2 was seen on this machine"
	if err != nil || len(res.Damaged) != 1 || res.Damaged[0].Reason != want {
		t.Fatalf("%+v %v", res, err)
	}
}

// A delete and create on another machine is no rollback on this one,
// although this machine never saw the delete and still has its marks of
// the old secret: the new secret is a new incarnation, whose version 1 is
// not compared with the old one's version 3.
func TestNewIncarnationElsewhere(t *testing.T) {
	a := newMachine(t)
	b := machine{identity: a.identity, state: filepath.Join(t.TempDir(), "flyte")}
	dir := filepath.Join(t.TempDir(), "store")
	ma, _ := a.open(t, dir)
	mb, _ := b.open(t, dir)
	mustCreate(t, ma, "K", "value-1")
	mustUpdate(t, ma, "K", "value-2")
	mustUpdate(t, ma, "K", "value-3")
	if err := mb.Delete(ctx, scope.Scope{}, "K"); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, mb, "K", "value-new")
	res, err := ma.List(ctx, secrets.Filter{})
	if err != nil || len(res.Damaged) != 0 || len(res.Secrets) != 1 || res.Secrets[0].Version != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	if r, err := ma.Resolve(ctx, "", "", []string{"K"}); err != nil || string(r[0].Value) != "value-new" {
		t.Fatalf("resolve: %v", err)
	}
	// Machine a learnt the new incarnation from that read: the new
	// secret's rollback is caught there too.
	rec, _ := os.ReadFile(recordFile(dir, "K"))
	mustUpdate(t, mb, "K", "value-new-2")
	if _, err := ma.List(ctx, secrets.Filter{}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(recordFile(dir, "K"), rec, 0o600); err != nil {
		t.Fatal(err)
	}
	var rb *secrets.RollbackError
	if _, err := ma.Resolve(ctx, "", "", []string{"K"}); !errors.As(err, &rb) || rb.Version != 1 || rb.Seen != 2 {
		t.Fatalf("resolve: %v", err)
	}
}

// Deferred marks are written once, by FlushMarks, and then catch a
// rollback as marks written one by one do; a key deleted meanwhile leaves
// none behind.
func TestDeferredMarks(t *testing.T) {
	mc := newMachine(t)
	dir := filepath.Join(t.TempDir(), "store")
	m, _ := mc.open(t, dir)
	m.DeferMarks()
	mustCreate(t, m, "K", "value-1")
	mustUpdate(t, m, "K", "value-2")
	old, err := os.ReadFile(recordFile(dir, "K"))
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, m, "K", "value-3")
	mustCreate(t, m, "GONE", "gone-1")
	if err := m.Delete(ctx, scope.Scope{}, "GONE"); err != nil {
		t.Fatal(err)
	}
	marks := filepath.Join(mc.state, "versions")
	files, _ := filepath.Glob(filepath.Join(marks, "[0-9a-f]*[0-9a-f]"))
	if len(files) != 0 {
		t.Fatalf("marks written before the flush: %v", files)
	}
	if err := m.FlushMarks(); err != nil {
		t.Fatal(err)
	}
	files, _ = filepath.Glob(filepath.Join(marks, "[0-9a-f]*[0-9a-f]"))
	if len(files) != 1 {
		t.Fatalf("marks files after the flush: %v", files)
	}
	b, _ := os.ReadFile(files[0])
	if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); len(lines) != 2 || !strings.HasSuffix(lines[1], " 3 acme @ @ K") {
		t.Fatalf("marks file:\n%s", b)
	}
	if err := os.WriteFile(recordFile(dir, "K"), old, 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := m.List(ctx, secrets.Filter{})
	if err != nil || len(res.Damaged) != 1 || res.Damaged[0].Reason != rolledBack {
		t.Fatalf("list after a rollback: %+v %v", res, err)
	}
}

// The agent keeps the marks it parsed between requests (each request has
// a Manager of its own, sharing one MarksCache), but never past a change of
// the file: a version another flyte of this machine saw after the last
// listing still catches a rollback, however soon after the listing (same
// size and modification time) it was written.
func TestKeptMarksFollowTheFile(t *testing.T) {
	mc := newMachine(t)
	dir := filepath.Join(t.TempDir(), "store")
	var kept secrets.MarksCache
	request := func() *secrets.Manager {
		m := secrets.New(&nativeStore{dir: fsgrant.New(dir)}, secrets.Options{Org: "acme", Identity: mc.identity, StateDir: mc.state, Marks: &kept})
		t.Cleanup(m.Close)
		return m
	}
	mustCreate(t, request(), "K", "value-1")
	mustUpdate(t, request(), "K", "value-2")
	for range 2 { // the second listing reads the marks the first one kept
		if res, err := request().List(ctx, secrets.Filter{}); err != nil || len(res.Secrets) != 1 || len(res.Damaged) != 0 {
			t.Fatalf("list: %+v %v", res, err)
		}
	}
	old, err := os.ReadFile(recordFile(dir, "K"))
	if err != nil {
		t.Fatal(err)
	}
	marks := marksFile(t, mc)
	info, err := os.Stat(marks)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := mc.open(t, dir) // another flyte: a cache of its own
	mustUpdate(t, other, "K", "value-3")
	// The mark rose from 2 to 3: the same size; and the same time, as if
	// within one tick of the clock.
	if err := os.Chtimes(marks, info.ModTime(), info.ModTime()); err != nil {
		t.Fatal(err)
	}
	if now, err := os.Stat(marks); err != nil || now.Size() != info.Size() {
		t.Fatalf("marks file: %v, size %d then %d", err, info.Size(), now.Size())
	}
	if err := os.WriteFile(recordFile(dir, "K"), old, 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := request().List(ctx, secrets.Filter{})
	if err != nil || len(res.Damaged) != 1 || res.Damaged[0].Reason != rolledBack {
		t.Fatalf("list after another flyte saw version 3: %+v %v", res, err)
	}
}

package migrate_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/abi/guest"
	"github.com/flytesecrets/flyte/host/fsgrant"
	"github.com/flytesecrets/flyte/host/migrate"
	"github.com/flytesecrets/flyte/host/scope"
	"github.com/flytesecrets/flyte/host/secrets"
	"github.com/flytesecrets/flyte/plugins/filestore"
)

var ctx = context.Background()

// fileStore runs the real filestore code in-process over a directory.
type fileStore struct{ dir *fsgrant.Dir }

func (s *fileStore) Call(ctx context.Context, op abi.Op, in []byte) ([]byte, error) {
	call := s.dir.Begin(ctx)
	defer call.End()
	st, out := guest.Dispatch(guest.StoreHandler(filestore.Info, filestore.New(call)), op, in)
	if st != abi.OK {
		var m abi.ErrorMessage
		_ = abi.Unmarshal(out, &m)
		return nil, &abi.StatusError{Code: st, Message: m.Message}
	}
	return out, nil
}

// world is one user (an identity, a state directory) and two stores.
type world struct {
	dir      string
	identity string
	state    string
}

func newWorld(t *testing.T) *world {
	dir := t.TempDir()
	return &world{dir: dir, identity: filepath.Join(dir, "identity.txt"), state: filepath.Join(dir, "state")}
}

// manager opens the store named name as the world's user.
func (w *world) manager(t *testing.T, name string) *secrets.Manager {
	return w.managerAs(t, name, w.identity)
}

func (w *world) managerAs(t *testing.T, name, identity string) *secrets.Manager {
	store := filepath.Join(w.dir, name)
	m := secrets.New(&fileStore{dir: fsgrant.New(store)}, secrets.Options{
		Org: "acme", Identity: identity, StateDir: w.state, Location: "filestore\x00" + store, StoreMinor: abi.Minor})
	t.Cleanup(m.Close)
	return m
}

type secret struct {
	scope scope.Scope
	key   string
	kind  abi.SecretKind
	value string
}

func (s secret) String() string { return s.key + " (" + s.scope.String() + ")" }

var org = scope.Scope{Org: "acme"}

func in(project, domain string) scope.Scope {
	return scope.Scope{Org: "acme", Project: project, Domain: domain}
}

// some are secrets of every scope and kind, one key in two scopes.
var some = []secret{
	{org, "API", abi.SecretString, "api-org"},
	{org, "CERT", abi.SecretFile, "-----BEGIN-----\x00\xff\n"},
	{org, "PULL", abi.SecretImagePull, `{"auths":{"ghcr.io":{"auth":"dTpw"}}}`},
	{in("proj", ""), "API", abi.SecretString, "api-proj"},
	{in("", "staging"), "DB", abi.SecretString, "db-staging"},
	{in("proj", "production"), "DB", abi.SecretString, "db-proj-prod"},
}

func create(t *testing.T, m *secrets.Manager, list []secret) {
	t.Helper()
	for _, s := range list {
		if _, err := m.Create(ctx, s.scope, s.key, s.kind, []byte(s.value)); err != nil {
			t.Fatalf("create %s: %v", s, err)
		}
	}
}

// run migrates and returns each step as "OUTCOME KEY (scope) vN".
func run(t *testing.T, src, dst *secrets.Manager) ([]string, migrate.Summary, error) {
	t.Helper()
	var lines []string
	sum, err := migrate.Run(ctx, src, dst, func(s migrate.Step) {
		what := map[migrate.Outcome]string{migrate.Created: "created", migrate.Updated: "updated", migrate.Unchanged: "unchanged"}[s.Outcome]
		lines = append(lines, fmt.Sprintf("%s %s (%s) v%d", what, s.Key, s.Scope, s.Version))
	})
	return lines, sum, err
}

// holds checks that m holds exactly list, by value and kind.
func holds(t *testing.T, m *secrets.Manager, list []secret) {
	t.Helper()
	res, err := m.List(ctx, secrets.Filter{})
	if err != nil || len(res.Damaged) > 0 {
		t.Fatalf("list: %v %v", err, res.Damaged)
	}
	if len(res.Secrets) != len(list) {
		t.Fatalf("the store holds %d secrets, want %d", len(res.Secrets), len(list))
	}
	for _, s := range list {
		r, err := m.Resolve(ctx, s.scope.Project, s.scope.Domain, []string{s.key})
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if r[0].Scope != s.scope || r[0].Kind != s.kind || string(r[0].Value) != s.value {
			t.Errorf("%s: got %s, %s, %q", s, r[0].Scope, r[0].Kind, r[0].Value)
		}
	}
}

func equal(t *testing.T, got, want []string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("steps:\n%q\nwant\n%q", got, want)
	}
}

// Every secret of every scope and kind arrives with its value; a second
// run finds all unchanged; a changed source value is updated to the next
// version, and a secret the destination alone holds is left alone.
func TestMigrate(t *testing.T) {
	w := newWorld(t)
	src, dst := w.manager(t, "a"), w.manager(t, "b")
	create(t, src, some)
	lines, sum, err := run(t, src, dst)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, lines, []string{
		"created API (organization) v1", "created CERT (organization) v1", "created PULL (organization) v1",
		"created DB (domain staging) v1", "created API (project proj) v1", "created DB (project proj, domain production) v1",
	})
	if sum != (migrate.Summary{Created: 6}) || sum.Migrated() != 6 || sum.Total() != 6 {
		t.Errorf("summary %+v", sum)
	}
	holds(t, dst, some)

	lines, sum, err = run(t, src, dst)
	if err != nil || sum != (migrate.Summary{Unchanged: 6}) {
		t.Fatalf("second run: %v %+v", err, sum)
	}
	equal(t, lines[:1], []string{"unchanged API (organization) v1"})

	// The source rotates one secret twice; the destination has one of its own.
	for _, v := range []string{"api-proj-2", "api-proj-3"} {
		if _, err := src.Update(ctx, in("proj", ""), "API", abi.SecretString, []byte(v), 0); err != nil {
			t.Fatal(err)
		}
	}
	create(t, dst, []secret{{in("other", ""), "MINE", abi.SecretString, "mine"}})
	lines, sum, err = run(t, src, dst)
	if err != nil || sum != (migrate.Summary{Updated: 1, Unchanged: 5}) {
		t.Fatalf("third run: %v %+v", err, sum)
	}
	equal(t, lines[4:5], []string{"updated API (project proj) v2"})
	want := append([]secret(nil), some...)
	want[3].value = "api-proj-3"
	holds(t, dst, append(want, secret{in("other", ""), "MINE", abi.SecretString, "mine"}))
}

// More secrets in one scope than one batch holds.
func TestMigrateManyInOneScope(t *testing.T) {
	w := newWorld(t)
	src, dst := w.manager(t, "a"), w.manager(t, "b")
	var list []secret
	for i := range 70 {
		list = append(list, secret{in("p", "development"), fmt.Sprintf("K%03d", i), abi.SecretString, fmt.Sprintf("value-%d", i)})
	}
	create(t, src, list)
	create(t, dst, list[10:20]) // the same values: unchanged
	if _, err := dst.Update(ctx, list[15].scope, list[15].key, abi.SecretString, []byte("other"), 0); err != nil {
		t.Fatal(err)
	}
	_, sum, err := run(t, src, dst)
	if err != nil || sum != (migrate.Summary{Created: 60, Updated: 1, Unchanged: 9}) {
		t.Fatalf("%v %+v", err, sum)
	}
	holds(t, dst, list)
}

// snapshot returns every file under dir with its content.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[p] = string(b)
		return err
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return out
}

func unchangedDir(t *testing.T, dir string, before map[string]string) {
	t.Helper()
	if after := snapshot(t, dir); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("%s changed", dir)
	}
}

// Refusals known before writing write nothing.
func TestMigrateRefuses(t *testing.T) {
	t.Run("kind", func(t *testing.T) {
		w := newWorld(t)
		src, dst := w.manager(t, "a"), w.manager(t, "b")
		create(t, src, some)
		create(t, dst, []secret{{in("proj", "production"), "DB", abi.SecretFile, "a file"}})
		before := snapshot(t, filepath.Join(w.dir, "b"))
		_, _, err := run(t, src, dst)
		var ke *migrate.KindError
		if !errors.As(err, &ke) || err.Error() != "the destination's secret DB in project proj, domain production scope has type file, not regular as in the source; nothing was migrated" {
			t.Fatalf("got %v", err)
		}
		unchangedDir(t, filepath.Join(w.dir, "b"), before)
	})
	t.Run("damaged source", func(t *testing.T) {
		w := newWorld(t)
		src, dst := w.manager(t, "a"), w.manager(t, "b")
		create(t, src, some)
		flip(t, filepath.Join(w.dir, "a", "secrets", "acme", "@", "staging", "DB"))
		_, _, err := run(t, src, dst)
		var de *migrate.DamagedError
		if !errors.As(err, &de) || len(de.Damaged) != 1 || de.Damaged[0].Key != "DB" ||
			err.Error() != "the source store holds a record that fails its integrity check (1); nothing was migrated" {
			t.Fatalf("got %v", err)
		}
		if _, err := os.Stat(filepath.Join(w.dir, "b")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the destination was created: %v", err)
		}
	})
	t.Run("damaged destination", func(t *testing.T) {
		w := newWorld(t)
		src, dst := w.manager(t, "a"), w.manager(t, "b")
		create(t, src, some)
		create(t, dst, some[:1])
		flip(t, filepath.Join(w.dir, "b", "secrets", "acme", "@", "@", "API"))
		before := snapshot(t, filepath.Join(w.dir, "b"))
		_, _, err := run(t, src, dst)
		var de *migrate.DestinationDamagedError
		if !errors.As(err, &de) || de.Damaged.Key != "API" {
			t.Fatalf("got %v", err)
		}
		unchangedDir(t, filepath.Join(w.dir, "b"), before)
	})
	t.Run("locked destination", func(t *testing.T) {
		// The destination's data key belongs to another identity: the
		// error is the secrets service's, before any write.
		w := newWorld(t)
		src := w.manager(t, "a")
		create(t, src, some)
		other := w.managerAs(t, "b", filepath.Join(w.dir, "other.txt"))
		create(t, other, []secret{{org, "THEIRS", abi.SecretString, "theirs"}})
		other.Close()
		before := snapshot(t, filepath.Join(w.dir, "b"))
		_, _, err := run(t, src, w.manager(t, "b"))
		if !locked(err) {
			t.Fatalf("got %T %v", err, err)
		}
		unchangedDir(t, filepath.Join(w.dir, "b"), before)

		// The same with an empty destination that has a data key.
		other2 := w.managerAs(t, "c", filepath.Join(w.dir, "other.txt"))
		create(t, other2, []secret{{org, "GONE", abi.SecretString, "gone"}})
		if err := other2.Delete(ctx, org, "GONE"); err != nil {
			t.Fatal(err)
		}
		before = snapshot(t, filepath.Join(w.dir, "c"))
		_, _, err = run(t, src, w.manager(t, "c"))
		if !locked(err) {
			t.Fatalf("empty destination: got %T %v", err, err)
		}
		unchangedDir(t, filepath.Join(w.dir, "c"), before)
	})
}

// locked reports whether err is the secrets service's refusal of a data
// key this identity cannot open.
func locked(err error) bool {
	var le *secrets.LockedError
	var ue *secrets.UntrustedVoucherError
	var ne *secrets.NotRecipientError
	return errors.As(err, &le) || errors.As(err, &ue) || errors.As(err, &ne)
}

// An empty source migrates nothing and creates nothing.
func TestMigrateEmpty(t *testing.T) {
	w := newWorld(t)
	lines, sum, err := run(t, w.manager(t, "a"), w.manager(t, "b"))
	if err != nil || len(lines) != 0 || sum.Total() != 0 {
		t.Fatalf("%v %v %+v", lines, err, sum)
	}
	if _, err := os.Stat(filepath.Join(w.dir, "b")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the destination was created: %v", err)
	}
}

// flip inverts the last byte of a record file: its sealed value's tag.
func flip(t *testing.T, p string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Clone(b)
	b[len(b)-1] ^= 0xff
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

//go:build !wasip1

package filestore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/abi/guest"
	"github.com/flytesecrets/flyte/host/fsgrant"
)

// onDir runs f with a store over dir for one call (the lock is released
// after it), as the host runs one plugin call. convert: the store writes
// format 2.
func onDir(t testing.TB, dir string, convert bool, f func(s *Store)) {
	t.Helper()
	c := fsgrant.New(dir).Begin(context.Background())
	defer c.End()
	s := New(c)
	if convert {
		s.ConvertOnWrite()
	}
	f(s)
}

// oldStore fills dir, in format 1, with records of two organizations and
// several scopes, some updated, and one damaged file; it returns what a
// listing of every organization shows.
func oldStore(t testing.TB, dir string, n int) []string {
	t.Helper()
	onDir(t, dir, false, func(s *Store) {
		for i := range n {
			sc := abi.Scope{Org: []string{"acme", "beta"}[i%2], Project: []string{"", "p1", "p2"}[i%3], Domain: []string{"", "dev"}[i%2]}
			r := &abi.Record{Scope: sc, Key: fmt.Sprintf("K%04d", i), Kind: abi.SecretString, Created: int64(i), Updated: int64(i), Sealed: []byte(fmt.Sprintf("sealed-%d", i))}
			if _, err := s.Create(r); err != nil {
				t.Fatal(err)
			}
			if i%5 == 0 {
				r.Updated, r.Sealed = int64(1000+i), []byte(fmt.Sprintf("sealed-%d-v2", i))
				if _, err := s.Update(r, 1); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
	if err := os.WriteFile(filepath.Join(dir, "secrets", "acme", "@", "@", "DAMAGED"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	return listing(t, dir)
}

// listing lists every organization of dir (page by page, 7 at a time),
// one line per record or damaged entry, with everything it holds.
func listing(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	req := abi.ListRequest{AllOrgs: true, Limit: 7}
	for {
		var resp *abi.ListResponse
		var err error
		onDir(t, dir, false, func(s *Store) { resp, err = decodedList(s, &req) })
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range resp.Records {
			out = append(out, fmt.Sprintf("%s/%s/%s/%s v%d kind %d %d %d %q", r.Scope.Org, r.Scope.Project, r.Scope.Domain, r.Key, r.Version, r.Kind, r.Created, r.Updated, r.Sealed))
		}
		for _, d := range resp.Damaged {
			out = append(out, fmt.Sprintf("%s/%s/%s/%s damaged: %s", d.Scope.Org, d.Scope.Project, d.Scope.Domain, d.Key, d.Reason))
		}
		if resp.NextPageToken == "" {
			break
		}
		req.PageToken = resp.NextPageToken
	}
	slices.Sort(out)
	return out
}

// snapshot returns every file and directory of dir with its content.
func snapshot(t testing.TB, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			m[rel] = "dir"
			return nil
		}
		b, err := os.ReadFile(p)
		m[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func markerOf(t testing.TB, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "secrets"))
	if err != nil {
		return "(" + err.Error()[strings.LastIndex(err.Error(), ": ")+2:] + ")"
	}
	return string(b)
}

// Conversion keeps every record exactly (value, version, times, kind, and
// damage), in batches across writes; reads before it, and during it, change
// nothing.
func TestConversionKeepsEverything(t *testing.T) {
	defer func(n int) { convertBatch = n }(convertBatch)
	convertBatch = 40
	dir := t.TempDir()
	want := oldStore(t, dir, 150)
	if len(want) != 151 || !strings.Contains(strings.Join(want, "\n"), "DAMAGED damaged") {
		t.Fatalf("fixture: %d entries", len(want))
	}
	// A store that would convert reads a store of format 1 as it is, and
	// changes nothing by reading.
	before := snapshot(t, dir)
	onDir(t, dir, true, func(s *Store) {
		if r, err := s.Get(abi.Scope{Org: "acme"}, "K0000"); err != nil || r.Version != 2 {
			t.Fatalf("get: %+v %v", r, err)
		}
		if _, err := s.Update(&abi.Record{Scope: abi.Scope{Org: "acme"}, Key: "MISSING"}, 0); abi.StatusOf(err) != abi.NotFound {
			t.Fatalf("update of a missing record: %v", err)
		}
	})
	if got := listing(t, dir); !slices.Equal(got, want) {
		t.Fatalf("listing through format 1:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if after := snapshot(t, dir); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatal("reads changed the store")
	}
	// Writes convert, a batch at a time; every state in between reads the
	// same.
	extra := 0
	for step := 0; ; step++ {
		if step > 10 {
			t.Fatal("conversion does not end")
		}
		onDir(t, dir, true, func(s *Store) {
			r := &abi.Record{Scope: abi.Scope{Org: "acme"}, Key: fmt.Sprintf("NEW%d", step), Kind: abi.SecretString, Created: 5, Updated: 5, Sealed: []byte("new")}
			if _, err := s.Create(r); err != nil {
				t.Fatal(err)
			}
		})
		extra++
		want = append(want, fmt.Sprintf("acme///NEW%d v1 kind 1 5 5 %q", step, "new"))
		slices.Sort(want)
		if got := listing(t, dir); !slices.Equal(got, want) {
			t.Fatalf("step %d (marker %q):\n%s\nwant\n%s", step, markerOf(t, dir), strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if step == 0 && markerOf(t, dir) != markerConverting {
			t.Fatalf("after the first write the marker is %q", markerOf(t, dir))
		}
		if markerOf(t, dir) == markerDone {
			break
		}
	}
	if extra < 3 {
		t.Fatalf("converted in %d writes; batches of 40 of 151 records need 4", extra)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), legacyPrefix) {
			t.Fatalf("legacy tree %s left after the conversion", e.Name())
		}
	}
	// Compaction keeps it all too, and the damaged record stays damaged.
	onDir(t, dir, true, func(s *Store) {
		if err := s.Delete(abi.Scope{Org: "beta", Project: "p1", Domain: "dev"}, "K0001", 0); err != nil {
			t.Fatal(err)
		}
		if err := s.Compact(); err != nil {
			t.Fatal(err)
		}
	})
	want = slices.DeleteFunc(want, func(s string) bool { return strings.HasPrefix(s, "beta/p1/dev/K0001 ") })
	if got := listing(t, dir); !slices.Equal(got, want) {
		t.Fatalf("after compaction:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// crashFS fails every change after the first `left` ones; the change it
// fails is a write_at that writes half its data (a torn frame), or nothing
// for the others: a process killed at that point.
type crashFS struct {
	*fsgrant.Call
	left int
}

var errCrash = abi.Errorf(abi.Unavailable, "crashed")

func (c *crashFS) step() bool {
	c.left--
	return c.left >= 0
}

func (c *crashFS) WriteFile(p string, data []byte, excl bool) error {
	if !c.step() {
		return errCrash
	}
	return c.Call.WriteFile(p, data, excl)
}

func (c *crashFS) WriteAt(p string, off int64, data []byte) error {
	if !c.step() {
		if len(data) > 1 {
			_ = c.Call.WriteAt(p, off, data[:len(data)/2])
		}
		return errCrash
	}
	return c.Call.WriteAt(p, off, data)
}

func (c *crashFS) Rename(p, to string) error {
	if !c.step() {
		return errCrash
	}
	return c.Call.Rename(p, to)
}

func (c *crashFS) RemoveAll(p string) error {
	if !c.step() {
		return errCrash
	}
	return c.Call.RemoveAll(p)
}

func (c *crashFS) Remove(p string) error {
	if !c.step() {
		return errCrash
	}
	return c.Call.Remove(p)
}

var _ guest.RangeFS = (*crashFS)(nil)

func copyDir(t testing.TB, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A conversion cut short at any of its changes (a write torn in half, a
// rename or removal not done) loses nothing: the store reads the same
// (the record being created is there or not), and the next write goes on
// from there and finishes it.
func TestConversionCrashPoints(t *testing.T) {
	defer func(n int) { convertBatch = n }(convertBatch)
	convertBatch = 10
	orig := t.TempDir()
	want := oldStore(t, orig, 24)
	newRec := fmt.Sprintf("acme///NEW v1 kind 1 5 5 %q", "new")
	create := func(s *Store) error {
		_, err := s.Create(&abi.Record{Scope: abi.Scope{Org: "acme"}, Key: "NEW", Kind: abi.SecretString, Created: 5, Updated: 5, Sealed: []byte("new")})
		return err
	}
	for n := 0; ; n++ {
		if n > 200 {
			t.Fatal("the writes never finish")
		}
		dir := t.TempDir()
		copyDir(t, orig, dir)
		// Write until the conversion is over, crashing after n changes.
		c := fsgrant.New(dir).Begin(context.Background())
		cfs := &crashFS{Call: c, left: n}
		s := New(cfs).ConvertOnWrite()
		var err error
		for range 10 {
			if err = create(s); abi.StatusOf(err) == abi.AlreadyExists {
				err = nil
			}
			if err != nil || markerOf(t, dir) == markerDone {
				break
			}
		}
		c.End()
		got := listing(t, dir)
		wantNow := want
		if slices.Contains(got, newRec) {
			wantNow = append(slices.Clone(want), newRec)
			slices.Sort(wantNow)
		}
		if !slices.Equal(got, wantNow) {
			t.Fatalf("crash after %d changes (marker %q): listing\n%s\nwant\n%s", n, markerOf(t, dir), strings.Join(got, "\n"), strings.Join(wantNow, "\n"))
		}
		if err == nil {
			if !slices.Contains(got, newRec) {
				t.Fatalf("crash after %d changes: the acknowledged create is not listed", n)
			}
			if markerOf(t, dir) != markerDone {
				t.Fatalf("finished with marker %q", markerOf(t, dir))
			}
			t.Logf("%d crash points", n)
			return
		}
		if !errors.Is(err, errCrash) && abi.StatusOf(err) != abi.Unavailable {
			t.Fatalf("crash after %d changes: %v", n, err)
		}
		// The next writer, healthy, finishes it all.
		onDir(t, dir, true, func(s *Store) {
			for range 10 {
				if err := create(s); err != nil && abi.StatusOf(err) != abi.AlreadyExists {
					t.Fatalf("crash after %d changes, then: %v", n, err)
				}
			}
		})
		if got := listing(t, dir); !slices.Equal(got, append(slices.Clone(want), newRec)) && !slices.Equal(got, sortedWith(want, newRec)) {
			t.Fatalf("crash after %d changes, then healthy writes: listing\n%s", n, strings.Join(got, "\n"))
		}
		if markerOf(t, dir) != markerDone {
			t.Fatalf("crash after %d changes, then healthy writes: marker %q", n, markerOf(t, dir))
		}
	}
}

func sortedWith(s []string, v string) []string {
	out := append(slices.Clone(s), v)
	slices.Sort(out)
	return out
}

// The format marker is in place before the first record goes into a log:
// an older flyte, which writes secrets/ORG/..., fails from then on.
func TestMarkerBeforeLog(t *testing.T) {
	dir := t.TempDir()
	oldStore(t, dir, 3)
	c := fsgrant.New(dir).Begin(context.Background())
	defer c.End()
	var seen []string
	fs := &watchFS{Call: c, before: func(op, p string) {
		if strings.HasPrefix(p, logDir+"/") && op == "write_at" {
			seen = append(seen, "log:"+markerOf(t, dir))
		}
	}}
	if _, err := New(fs).ConvertOnWrite().Create(&abi.Record{Scope: abi.Scope{Org: "acme"}, Key: "NEW", Kind: abi.SecretString, Sealed: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if len(seen) == 0 {
		t.Fatal("nothing went into a log")
	}
	for _, s := range seen {
		if s != "log:"+markerConverting && s != "log:"+markerDone {
			t.Fatalf("a log was written while the marker was %q", s)
		}
	}
}

type watchFS struct {
	*fsgrant.Call
	before func(op, p string)
}

func (w *watchFS) WriteAt(p string, off int64, data []byte) error {
	w.before("write_at", p)
	return w.Call.WriteAt(p, off, data)
}

// A log frame that does not check (damage) between good frames is never
// skipped silently: its bytes cannot be trusted to name a key (they are a
// hint in the message only), so every key whose latest good frame lies
// before it, and every key the log lacks, reads as the damage, and so does
// every listing of the organization, while a key written after it reads as
// it is; a compaction refuses the log. A damaged tail (a write torn by a
// crash) is ignored; a log whose header is damaged fails the listing of
// its organization with a clear error rather than showing nothing.
func TestLogDamage(t *testing.T) {
	dir := t.TempDir()
	acme := abi.Scope{Org: "acme"}
	onDir(t, dir, true, func(s *Store) {
		for _, k := range []string{"A", "B", "C"} {
			if _, err := s.Create(&abi.Record{Scope: acme, Key: k, Kind: abi.SecretString, Sealed: []byte("value-" + k)}); err != nil {
				t.Fatal(err)
			}
		}
	})
	p := filepath.Join(dir, "log", "acme")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	orig := bytes.Clone(b)
	i := bytes.Index(b, []byte("value-B"))
	b[i] ^= 1
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	at := bytes.LastIndex(b[:i], []byte("fyl_"))
	want := "the log of organization acme is damaged at offset " + strconv.Itoa(at) + " (bytes between its records that flyte did not write, perhaps a record of secret B): restore the store from a backup"
	onDir(t, dir, true, func(s *Store) {
		if _, err := decodedList(s, &abi.ListRequest{Org: "acme"}); err == nil || err.Error() != want {
			t.Fatalf("list: %v", err)
		}
		for _, k := range []string{"A", "B", "Z"} {
			if _, err := s.Get(acme, k); abi.StatusOf(err) != abi.Internal || err.Error() != want {
				t.Fatalf("get %s: %v", k, err)
			}
		}
		if r, err := s.Get(acme, "C"); err != nil || string(r.Sealed) != "value-C" {
			t.Fatalf("get C (after the damage): %v", err)
		}
		if _, err := s.Update(&abi.Record{Scope: acme, Key: "A", Kind: abi.SecretString, Sealed: []byte("value-A2")}, 1); err == nil || err.Error() != want {
			t.Fatalf("update A: %v", err)
		}
		if _, err := s.Create(&abi.Record{Scope: acme, Key: "D", Kind: abi.SecretString, Sealed: []byte("value-D")}); err == nil || err.Error() != want {
			t.Fatalf("create D: %v", err)
		}
		if err := s.Compact(); err == nil || err.Error() != want {
			t.Fatalf("compact of a damaged log: %v", err)
		}
		// A key is deleted after the damage: that reads as it is.
		if err := s.Delete(acme, "A", 0); err != nil {
			t.Fatalf("delete A: %v", err)
		}
		if _, err := s.Get(acme, "A"); abi.StatusOf(err) != abi.NotFound {
			t.Fatalf("get A after its delete: %v", err)
		}
		if _, err := decodedList(s, &abi.ListRequest{Org: "acme"}); err == nil || err.Error() != want {
			t.Fatalf("list after the delete: %v", err)
		}
	})
	// The remedy the error names: the log restored from a backup (of the
	// same length as the damaged one, to a store that read the damage).
	onDir(t, dir, true, func(s *Store) {
		if _, err := s.Get(acme, "B"); err == nil {
			t.Fatal("get B: no damage")
		}
		if err := os.WriteFile(p, orig, 0o600); err != nil {
			t.Fatal(err)
		}
		if r, err := s.Get(acme, "B"); err != nil || string(r.Sealed) != "value-B" {
			t.Fatalf("get B after the restore: %v", err)
		}
	})
	if got := listing(t, dir); len(got) != 3 {
		t.Fatalf("listing after the restore: %q", got)
	}
	onDir(t, dir, true, func(s *Store) {
		if err := s.Delete(acme, "B", 0); err != nil {
			t.Fatalf("delete B: %v", err)
		}
	})
	// Garbage appended (a torn tail) is ignored; inserted between frames
	// it fails the listing, and a lookup of a key the log does not hold.
	good, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, append(slices.Clip(good), "not a frame at all"...), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := listing(t, dir); len(got) != 2 {
		t.Fatalf("listing with garbage at the tail: %q", got)
	}
	ins := slices.Concat(good[:headerSize], []byte("not a frame at all"), good[headerSize:])
	if err := os.WriteFile(p, ins, 0o600); err != nil {
		t.Fatal(err)
	}
	onDir(t, dir, true, func(s *Store) {
		want := "the log of organization acme is damaged at offset 32 (bytes between its records that flyte did not write): restore the store from a backup"
		if _, err := decodedList(s, &abi.ListRequest{Org: "acme"}); err == nil || err.Error() != want {
			t.Fatalf("list with garbage inside: %v", err)
		}
		if _, err := s.Get(abi.Scope{Org: "acme"}, "Z"); err == nil || err.Error() != want {
			t.Fatalf("get of a key the log lacks: %v", err)
		}
		if _, err := s.Get(abi.Scope{Org: "acme"}, "C"); err != nil {
			t.Fatalf("get C: %v", err)
		}
	})
	b = ins
	b[0] = 'X'
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	onDir(t, dir, false, func(s *Store) {
		if _, err := decodedList(s, &abi.ListRequest{Org: "acme"}); abi.StatusOf(err) != abi.Internal || !strings.Contains(err.Error(), "header") {
			t.Fatalf("damaged header: %v", err)
		}
	})
}

// A store of a format this flyte does not know is refused, not read as
// empty.
func TestUnknownFormat(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secrets"), []byte("flyte store format 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	onDir(t, dir, true, func(s *Store) {
		if _, err := s.Get(abi.Scope{Org: "acme"}, "K"); abi.StatusOf(err) != abi.Internal || !strings.Contains(err.Error(), "newer flyte") {
			t.Fatalf("get: %v", err)
		}
		if _, err := s.Create(&abi.Record{Scope: abi.Scope{Org: "acme"}, Key: "K"}); abi.StatusOf(err) != abi.Internal {
			t.Fatalf("create: %v", err)
		}
	})
}

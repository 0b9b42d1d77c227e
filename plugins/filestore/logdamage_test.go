//go:build !wasip1

package filestore

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/fsgrant"
)

// A byte flipped in the key of an update frame between good frames (or in
// its length): the frame's bytes name no key that can be trusted, so the
// real key does not read its earlier version, and deleting the key they
// seem to name (a phantom) does not let a compaction drop the damage.
func TestLogDamageKeyBytes(t *testing.T) {
	sc := abi.Scope{Org: "acme"}
	for _, mode := range []string{"rename", "garble"} {
		dir := t.TempDir()
		onDir(t, dir, true, func(s *Store) {
			for _, k := range []string{"alpha", "beta"} {
				if _, err := s.Create(&abi.Record{Scope: sc, Key: k, Kind: abi.SecretString, Sealed: []byte("old-" + k)}); err != nil {
					t.Fatal(err)
				}
			}
			for _, k := range []string{"alpha", "beta"} {
				if _, err := s.Update(&abi.Record{Scope: sc, Key: k, Kind: abi.SecretString, Sealed: []byte("NEW-" + k)}, 1); err != nil {
					t.Fatal(err)
				}
			}
		})
		p := filepath.Join(dir, "log", "acme")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		i := bytes.Index(b, []byte("NEW-alpha"))
		j := bytes.LastIndex(b[:i], []byte("alpha"))
		hint := ", perhaps a record of secret alphb"
		if mode == "rename" {
			b[j+4] = 'b' // alpha -> alphb, still a valid name
		} else {
			b[j-1] = 0x7f // the key's length: the bytes name no key
			hint = ""
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		at := bytes.LastIndex(b[:j], []byte("fyl_"))
		want := "the log of organization acme is damaged at offset " + strconv.Itoa(at) + " (bytes between its records that flyte did not write" + hint + "): restore the store from a backup"
		onDir(t, dir, true, func(s *Store) {
			for _, k := range []string{"alpha", "alphb"} {
				if r, err := s.Get(sc, k); err == nil || err.Error() != want {
					t.Errorf("%s: get %s: %v %v", mode, k, r, err)
				}
			}
			if r, err := s.Get(sc, "beta"); err != nil || string(r.Sealed) != "NEW-beta" {
				t.Errorf("%s: get beta (written after the damage): %v", mode, err)
			}
			if _, err := decodedList(s, &abi.ListRequest{Org: "acme"}); err == nil || err.Error() != want {
				t.Errorf("%s: list: %v", mode, err)
			}
			if err := s.Delete(sc, "alphb", 0); err == nil || err.Error() != want {
				t.Errorf("%s: delete of the phantom: %v", mode, err)
			}
			if err := s.Compact(); err == nil || err.Error() != want {
				t.Errorf("%s: compact: %v", mode, err)
			}
		})
		if nb, _ := os.ReadFile(p); !bytes.Equal(nb, b) {
			t.Errorf("%s: the damaged log was changed", mode)
		}
	}
}

// failFS fails one read_at at or past failAt.
type failFS struct {
	*fsgrant.Call
	failAt int64
}

func (f *failFS) ReadAt(p string, off int64, buf []byte) (int, error) {
	if f.failAt > 0 && off >= f.failAt {
		f.failAt = 0
		return 0, abi.Errorf(abi.Unavailable, "deadline")
	}
	return f.Call.ReadAt(p, off, buf)
}

// A scan that fails part way (a read past its first chunk) leaves the
// index a long-lived store keeps as it was: the next call reads the frames
// the failed scan did not index.
func TestFailedScanKeepsIndex(t *testing.T) {
	dir := t.TempDir()
	sc := abi.Scope{Org: "acme"}
	big := bytes.Repeat([]byte("v"), 8<<10)
	onDir(t, dir, true, func(s *Store) {
		for i := range 200 {
			if _, err := s.Create(&abi.Record{Scope: sc, Key: "k" + strconv.Itoa(i), Kind: abi.SecretString, Sealed: big}); err != nil {
				t.Fatal(err)
			}
		}
	})
	c := fsgrant.New(dir).Begin(context.Background())
	defer c.End()
	ff := &failFS{Call: c}
	s := New(ff)
	if _, err := s.Get(sc, "k0"); err != nil { // the log indexed as it is
		t.Fatal(err)
	}
	st0, err := os.Stat(filepath.Join(dir, "log", "acme"))
	if err != nil {
		t.Fatal(err)
	}
	// Another process updates k150 and k199, then appends 1.6 MiB more.
	onDir(t, dir, true, func(o *Store) {
		for _, k := range []string{"k150", "k199"} {
			if _, err := o.Update(&abi.Record{Scope: sc, Key: k, Kind: abi.SecretString, Sealed: []byte("NEW-" + k)}, 1); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 200 {
			if _, err := o.Create(&abi.Record{Scope: sc, Key: "z" + strconv.Itoa(i), Kind: abi.SecretString, Sealed: big}); err != nil {
				t.Fatal(err)
			}
		}
	})
	ff.failAt = st0.Size() + 1 // the scan's second chunk fails, once
	if _, err := s.Get(sc, "k150"); err == nil || err.Error() != "deadline" {
		t.Fatalf("get with a failing read: %v", err)
	}
	if ff.failAt != 0 {
		t.Fatal("no read failed")
	}
	for _, k := range []string{"k150", "k199"} {
		r, err := s.Get(sc, k)
		if err != nil || string(r.Sealed) != "NEW-"+k || r.Version != 2 {
			t.Fatalf("get %s after a failed scan: %v", k, err)
		}
	}
	if _, err := s.Get(sc, "z199"); err != nil {
		t.Fatalf("get z199: %v", err)
	}
}

// Good frames of an op this flyte does not know (a later flyte's), one or
// several in a row between good frames, are no damage.
func TestUnknownOpsAreNoDamage(t *testing.T) {
	dir := t.TempDir()
	sc := abi.Scope{Org: "acme"}
	onDir(t, dir, true, func(s *Store) {
		for _, k := range []string{"A", "B"} {
			if _, err := s.Create(&abi.Record{Scope: sc, Key: k, Kind: abi.SecretString, Sealed: []byte("v")}); err != nil {
				t.Fatal(err)
			}
		}
	})
	p := filepath.Join(dir, "log", "acme")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	gen, _ := parseHeader(b)
	at := bytes.Index(b[headerSize+1:], []byte("fyl_")) + headerSize + 1 // B's frame
	for _, n := range []int{1, 2, 3} {
		var ins []byte
		for range n {
			ins = appendPayload(ins, gen, []byte{9, 1, 2, 3})
		}
		if err := os.WriteFile(p, slices.Concat(b[:at], ins, b[at:]), 0o600); err != nil {
			t.Fatal(err)
		}
		onDir(t, dir, false, func(s *Store) {
			resp, err := decodedList(s, &abi.ListRequest{Org: "acme"})
			if err != nil || len(resp.Records) != 2 || len(resp.Damaged) != 0 {
				t.Fatalf("%d unknown-op frames: list: %+v %v", n, resp, err)
			}
			if _, err := s.Get(sc, "A"); err != nil {
				t.Fatalf("%d unknown-op frames: get A: %v", n, err)
			}
		})
	}
}

// Damage in the part of the log that a long-lived store already indexed
// (bit rot, a hostile flip) is found by a compaction's own scan: it
// refuses, changes nothing, and the record reads as damaged (not missing).
func TestCompactRefusesDamage(t *testing.T) {
	dir := t.TempDir()
	sc := abi.Scope{Org: "acme"}
	c := fsgrant.New(dir).Begin(context.Background())
	defer c.End()
	s := New(c)
	s.ConvertOnWrite()
	for _, k := range []string{"A", "B", "C"} {
		if _, err := s.Create(&abi.Record{Scope: sc, Key: k, Kind: abi.SecretString, Sealed: []byte("value-" + k)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Update(&abi.Record{Scope: sc, Key: "A", Kind: abi.SecretString, Sealed: []byte("value-A2")}, 1); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "log", "acme")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte("value-B"))
	b[i] ^= 1 // in B's only frame
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	want := "the log of organization acme is damaged at offset " + strconv.Itoa(bytes.LastIndex(b[:i], []byte("fyl_")))
	if err := s.Compact(); err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("compact of a damaged log: %v", err)
	}
	if nb, _ := os.ReadFile(p); !bytes.Equal(nb, b) {
		t.Fatal("the damaged log was changed")
	}
	for _, st := range []*Store{s, New(c)} {
		if _, err := st.Get(sc, "B"); abi.StatusOf(err) != abi.Internal || !strings.HasPrefix(err.Error(), want) {
			t.Fatalf("get B after the refused compaction: %v", err)
		}
	}
}

// memFS is a RangeFS of one log in memory, counting its reads.
type memFS struct {
	log   []byte
	reads [][2]int64 // offset, length asked
}

func (m *memFS) ReadFile(string) ([]byte, error)        { return nil, abi.Errorf(abi.NotFound, "none") }
func (m *memFS) WriteFile(string, []byte, bool) error   { return abi.Errorf(abi.Internal, "read-only") }
func (m *memFS) Remove(string) error                    { return abi.Errorf(abi.Internal, "read-only") }
func (m *memFS) ReadDir(string) ([]abi.DirEntry, error) { return nil, abi.Errorf(abi.NotFound, "none") }
func (m *memFS) Lock(string) error                      { return nil }
func (m *memFS) WriteAt(string, int64, []byte) error    { return abi.Errorf(abi.Internal, "read-only") }
func (m *memFS) Rename(string, string) error            { return abi.Errorf(abi.Internal, "read-only") }
func (m *memFS) RemoveAll(string) error                 { return abi.Errorf(abi.Internal, "read-only") }
func (m *memFS) ReadAt(p string, off int64, buf []byte) (int, error) {
	m.reads = append(m.reads, [2]int64{off, int64(len(buf))})
	if p != logPath("acme") {
		return 0, abi.Errorf(abi.NotFound, "none")
	}
	if off >= int64(len(m.log)) {
		return 0, nil
	}
	return copy(buf, m.log[off:]), nil
}

// The key a damaged stretch may have held is looked for in its first
// hintRead bytes only, one read, however long the stretch.
func TestGapHintReadsLittle(t *testing.T) {
	gen := [genSize]byte{7}
	a, big := testRec("A"), testRec("BIG")
	big.Sealed = bytes.Repeat([]byte("x"), 3<<20)
	log := appendFrame(appendFrame(appendFrame(logHeader(gen), gen, opPut, &a), gen, opPut, &big), gen, opPut, &a)
	at := bytes.Index(log[headerSize+1:], []byte("fyl_")) + headerSize + 1
	log[len(log)/2] ^= 1
	m := &memFS{log: log}
	idx, err := loadLog(m, new([]byte), "acme", nil)
	if err != nil || idx.lost != int64(at) || idx.hint != "secret BIG" {
		t.Fatalf("load: %+v %v", idx, err)
	}
	last := m.reads[len(m.reads)-1]
	if last[0] != int64(at) || last[1] > hintRead {
		t.Fatalf("the hint's read: %d bytes at %d", last[1], last[0])
	}
}

// FuzzLoadLog: no log makes loadLog panic; what it indexes are good
// frames of known ops within its valid end, sorted, one per key; the
// damage it reports is exactly the bytes between good frames (any of
// them: their bytes name nothing); and an index brought up to date from a
// prefix of the log (an earlier call's) equals one read from the header.
//
// (A prefix that ends inside a frame could show a frame nested in its
// payload, which the whole log's scan steps over: such prefixes are not
// compared.)
func FuzzLoadLog(f *testing.F) {
	gen := [genSize]byte{7}
	a, b, c := testRec("A"), testRec("B"), testRec("C")
	good := appendFrame(appendFrame(appendFrame(nil, gen, opPut, &a), gen, opPut, &b), gen, opDelete, &c)
	f.Add(good, uint16(0))
	flipped := bytes.Clone(good)
	flipped[len(good)/2] ^= 1
	f.Add(flipped, uint16(len(good)/3))
	f.Add(slices.Concat(good[:20], []byte("garbage"), good[20:]), uint16(40))
	f.Add(appendPayload(appendPayload(good, gen, []byte{9, 1}), gen, []byte{9, 2}), uint16(len(good)))
	f.Add(slices.Concat(good, []byte("torn")), uint16(5))
	f.Fuzz(func(t *testing.T, body []byte, cut uint16) {
		log := append(logHeader(gen), body...)
		m := &memFS{log: log}
		idx, err := loadLog(m, new([]byte), "acme", nil)
		if err != nil {
			t.Fatal(err) // the header is good, and reads do not fail
		}
		// The good frames, and the gaps between them, found independently.
		var frames [][2]int64
		scanFrames(log[headerSize:], headerSize, gen, func(fr *frame) { frames = append(frames, [2]int64{fr.off, fr.end}) })
		var lost, gapEnd int64
		end := int64(headerSize)
		for _, fr := range frames {
			if fr[0] != end {
				if lost == 0 {
					lost = end
				}
				gapEnd = fr[0]
			}
			end = fr[1]
		}
		if idx.end != end || idx.lost != lost || idx.gapEnd != gapEnd || idx.end > int64(len(log)) {
			t.Fatalf("end %d lost %d gapEnd %d, want %d %d %d", idx.end, idx.lost, idx.gapEnd, end, lost, gapEnd)
		}
		for i := range idx.ents {
			e := idx.at(i)
			if i > 0 && idx.key(i-1) >= e.k {
				t.Fatalf("entries out of order at %d", i)
			}
			if e.off < headerSize || e.off+int64(e.n) > idx.end {
				t.Fatalf("entry %q at %d+%d past the end %d", e.k, e.off, e.n, idx.end)
			}
			fr, ok := checkFrame(log[e.off:e.off+int64(e.n)], gen)
			if !ok || fr.op != e.op || e.op < opPut || e.op > opLegacy {
				t.Fatalf("entry %q at %d is no good frame of a known op", e.k, e.off)
			}
			if k, _, ok := fr.key(new(keyArena)); !ok || k != e.k {
				t.Fatalf("entry %q: the frame says %q", e.k, k)
			}
		}
		if strings.ContainsAny(idx.hint, "\x00\n") {
			t.Fatalf("hint %q", idx.hint)
		}
		// The same log read in two calls, the first of a prefix of it
		// that ends where a good frame does (a reader between two writes).
		n := int64(headerSize)
		if k := int(cut) % (len(frames) + 1); k > 0 {
			n = frames[k-1][1]
		}
		m2 := &memFS{log: log[:n]}
		pre, err := loadLog(m2, new([]byte), "acme", nil)
		if err != nil {
			t.Fatal(err)
		}
		m2.log = log
		inc, err := loadLog(m2, new([]byte), "acme", pre)
		if err != nil {
			t.Fatal(err)
		}
		if inc.end != idx.end || inc.lost != idx.lost || inc.gapEnd != idx.gapEnd || inc.hint != idx.hint || inc.len() != idx.len() {
			t.Fatalf("incremental: end %d lost %d gapEnd %d %d entries, want %d %d %d %d", inc.end, inc.lost, inc.gapEnd, inc.len(), idx.end, idx.lost, idx.gapEnd, idx.len())
		}
		for i := range idx.ents {
			if inc.at(i) != idx.at(i) {
				t.Fatalf("incremental: entry %d %+v, want %+v", i, inc.at(i), idx.at(i))
			}
		}
	})
}

// A conversion under way does not copy a legacy tree's records into a log
// after damage in it (the damage may hold a later version of one).
func TestConvertRefusesDamage(t *testing.T) {
	dir := t.TempDir()
	oldStore(t, dir, 6)
	gen := [genSize]byte{7}
	zz := testRec("ZZ")
	log := appendFrame(append(logHeader(gen), "not a frame"...), gen, opPut, &zz)
	if err := os.MkdirAll(filepath.Join(dir, "log"), 0o700); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "log", "acme")
	if err := os.WriteFile(p, log, 0o600); err != nil {
		t.Fatal(err)
	}
	want := "the log of organization acme is damaged at offset 32 (bytes between its records that flyte did not write): restore the store from a backup"
	onDir(t, dir, true, func(s *Store) {
		if _, err := s.Create(&abi.Record{Scope: abi.Scope{Org: "acme"}, Key: "NEW", Kind: abi.SecretString, Sealed: []byte("v")}); err == nil || err.Error() != want {
			t.Fatalf("create: %v", err)
		}
	})
	if b, _ := os.ReadFile(p); !bytes.Equal(b, log) {
		t.Fatal("the damaged log was written")
	}
}

// racyFS serves its first read at off from stale (what a reader may see
// while a writer overwrites a torn tail there), then the log as it is.
type racyFS struct {
	memFS
	off   int64
	stale []byte
}

func (r *racyFS) ReadAt(p string, off int64, buf []byte) (int, error) {
	if r.stale != nil && off == r.off {
		n := copy(buf, r.stale)
		r.stale = nil
		return n, nil
	}
	return r.memFS.ReadAt(p, off, buf)
}

// Damage an incremental scan sees past the index's end is confirmed by a
// scan from the header before it is reported: a writer overwriting a torn
// tail while the scan read made bytes that are no damage look like it.
func TestIncrementalDamageConfirmed(t *testing.T) {
	gen := [genSize]byte{7}
	a, b, c := testRec("A"), testRec("B"), testRec("C")
	fa := appendFrame(logHeader(gen), gen, opPut, &a)
	fb, fc := appendFrame(nil, gen, opPut, &b), appendFrame(nil, gen, opPut, &c)
	m := &racyFS{memFS: memFS{log: append(slices.Clone(fa), fb[:len(fb)-3]...)}} // A and a torn B
	idx, err := loadLog(m, new([]byte), "acme", nil)
	if err != nil || idx.end != int64(len(fa)) || idx.lost != 0 {
		t.Fatalf("load: %+v %v", idx, err)
	}
	// B written whole over its torn tail, and C after it; the scan's
	// first read saw the old torn tail and garbage where B's end is now.
	m.log = slices.Concat(fa, fb, fc)
	m.off, m.stale = int64(len(fa)), slices.Concat(fb[:len(fb)-3], []byte("xyz"), fc)
	idx, err = loadLog(m, new([]byte), "acme", idx)
	if err != nil || idx.lost != 0 || idx.len() != 3 {
		t.Fatalf("incremental load: lost %d, %d keys, %v", idx.lost, idx.len(), err)
	}
}

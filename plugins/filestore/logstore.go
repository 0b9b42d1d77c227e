package filestore

// The log of one organization in a store of format 2 (see the package
// comment and logfmt.go), read with fs.read_at and appended to with
// fs.write_at (ABI 1.4), and the index of it that a store keeps between
// calls.

import (
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unsafe"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/abi/guest"
)

const (
	logDir = "log"
	// readChunk is how much of a log one read_at asks for.
	readChunk = 1 << 20
	// writeChunk is how many bytes of frames one write_at carries at most.
	writeChunk = 4 << 20
)

// logEntry is the latest frame of one key in a log, or (op opTree) a key
// that only a legacy tree holds, in a listing's view.
type logEntry struct {
	k   string // entKey(project, domain, key)
	off int64  // the frame's offset; for opTree, the tree's index
	n   uint32 // the frame's length, head included
	op  byte
}

// opTree marks a view entry that a legacy tree holds (never in a log).
const opTree = 0x80

// hintRead bounds what a scan reads of damage to name the record it may
// have been (its key precedes its sealed value): never the whole stretch.
const hintRead = 4 << 10

// logIndex is what the scans of one organization's log found, up to end:
// its keys in order, each with its latest frame.
type logIndex struct {
	org  string
	gen  [genSize]byte
	end  int64      // valid end: the next frame goes here (0: no log yet)
	ents []indexEnt // sorted by key, one per key
	// keys holds the entries' keys back to back. It is only ever appended
	// to, never written over: the keys that key and at return alias it.
	keys []byte
	// lost is the offset of the first stretch between good frames (0:
	// none), and gapEnd the end of the last: bytes that fail the check are
	// damage, and may have held any record, a later frame of any key
	// (their bytes cannot be trusted to name it). A key whose latest good
	// frame lies before gapEnd, or that the log lacks, reads as the damage;
	// a key written after it reads as it is.
	lost, gapEnd int64
	// hint names the record the first stretch may have been (its bytes
	// still parse as a valid key), for the message only: "" when none.
	hint string
}

// lostError is the error of a read that damage in the log may have
// superseded (see logIndex.lost).
type lostError struct{ error }

func (e lostError) Unwrap() error { return e.error }

// indexEnt is an entry of a logIndex: a logEntry whose key lies in the
// index's keys, so that the entries hold no pointer. A wasm guest's
// collector otherwise marks every key of the index in every cycle, and
// with 100,000 keys one cycle cost seconds of a listing's page (its
// garbage starts several).
type indexEnt struct {
	ko, kn uint32 // the key: keys[ko : ko+kn]
	off    int64
	n      uint32
	op     byte
}

// entries is what a listing goes through, in key order: an index, or a
// view of one with the keys of legacy trees (entryList).
type entries interface {
	len() int
	at(i int) logEntry
}

// entryList is a sorted list of entries.
type entryList []logEntry

func (l entryList) len() int          { return len(l) }
func (l entryList) at(i int) logEntry { return l[i] }

func (x *logIndex) len() int { return len(x.ents) }

// key returns the key of entry i (aliasing x.keys: no allocation).
func (x *logIndex) key(i int) string { return x.str(&x.ents[i]) }

func (x *logIndex) str(e *indexEnt) string { return unsafe.String(&x.keys[e.ko], int(e.kn)) }

// mergeIndex adds the entries of fresh, frames found in offset order (not
// sorted; a later frame of a key replaces an earlier one), as merge does.
// An empty index takes fresh's entries and keys.
func (x *logIndex) mergeIndex(fresh *logIndex) {
	if len(x.ents) > 0 {
		news := make([]logEntry, len(fresh.ents))
		for i := range fresh.ents {
			news[i] = fresh.at(i)
		}
		x.merge(news)
		return
	}
	slices.SortFunc(fresh.ents, func(a, b indexEnt) int {
		if c := strings.Compare(fresh.str(&a), fresh.str(&b)); c != 0 {
			return c
		}
		return cmpOff(a.off, b.off)
	})
	// Keep the last (latest) frame of each key.
	w := 0
	for i := range fresh.ents {
		if i+1 < len(fresh.ents) && fresh.key(i+1) == fresh.key(i) {
			continue
		}
		fresh.ents[w] = fresh.ents[i]
		w++
	}
	x.ents, x.keys = slices.Clip(fresh.ents[:w]), fresh.keys
}

// at returns entry i.
func (x *logIndex) at(i int) logEntry {
	e := &x.ents[i]
	return logEntry{k: x.key(i), off: e.off, n: e.n, op: e.op}
}

// indexEnt stores e's key in x.keys (unless it has ko, the key's place
// there already) and returns its entry.
func (x *logIndex) indexEnt(e logEntry, ko int) indexEnt {
	if ko < 0 {
		ko = len(x.keys)
		x.keys = append(x.keys, e.k...)
	}
	return indexEnt{ko: uint32(ko), kn: uint32(len(e.k)), off: e.off, n: e.n, op: e.op}
}

// lostErr reports idx.lost.
func (x *logIndex) lostErr() error {
	what := "bytes between its records that flyte did not write"
	if x.hint != "" {
		what += ", perhaps a record of " + x.hint
	}
	return lostError{abi.Errorf(abi.Internal, "the log of organization ", x.org, " is damaged at offset ", strconv.FormatInt(x.lost, 10),
		" (", what, "): restore the store from a backup")}
}

// superseded reports whether damage may hold a later frame of e's key: its
// latest good frame lies before the last damaged stretch.
func (x *logIndex) superseded(e logEntry) bool { return e.off < x.gapEnd }

// entKey orders keys as listings do: by project, then domain, then key,
// with "" first (NUL is below every byte a name may hold).
func entKey(project, domain, key string) string {
	return project + "\x00" + domain + "\x00" + key
}

// splitKey is the inverse of entKey.
func splitKey(k string) (project, domain, key string) {
	project, rest, _ := strings.Cut(k, "\x00")
	domain, key, _ = strings.Cut(rest, "\x00")
	return project, domain, key
}

func logPath(org string) string { return logDir + "/" + org }

// find returns the position of k in the index and whether it is there.
func (x *logIndex) find(k string) (int, bool) {
	return sort.Find(len(x.ents), func(i int) int { return strings.Compare(k, x.key(i)) })
}

// entry returns the entry of k, if any.
func (x *logIndex) entry(k string) (logEntry, bool) {
	i, ok := x.find(k)
	if !ok {
		return logEntry{}, false
	}
	return x.at(i), true
}

// liveBytes is the size of the frames a compaction keeps.
func (x *logIndex) liveBytes() int64 {
	var n int64
	for _, e := range x.ents {
		if e.op != opDelete {
			n += int64(e.n)
		}
	}
	return n
}

// liveCount is the number of frames a compaction keeps.
func (x *logIndex) liveCount() int {
	n := 0
	for _, e := range x.ents {
		if e.op != opDelete {
			n++
		}
	}
	return n
}

// merge adds the entries of frames found in offset order: a later frame of
// a key replaces an earlier one.
func (x *logIndex) merge(news []logEntry) {
	if len(news) == 0 {
		return
	}
	if len(news) == 1 {
		if i, ok := x.find(news[0].k); ok {
			x.ents[i] = x.indexEnt(news[0], int(x.ents[i].ko))
		} else {
			x.ents = slices.Insert(x.ents, i, x.indexEnt(news[0], -1))
		}
		return
	}
	// By key, then offset: the later frame of a key last (a stable sort
	// would keep that order too, at O(n log² n)).
	slices.SortFunc(news, func(a, b logEntry) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return cmpOff(a.off, b.off)
	})
	// Keep the last (latest) frame of each key.
	w := 0
	for i := range news {
		if i+1 < len(news) && news[i+1].k == news[i].k {
			continue
		}
		news[w] = news[i]
		w++
	}
	news = news[:w]
	if len(x.ents) == 0 {
		size := 0
		for _, e := range news {
			size += len(e.k)
		}
		x.keys = make([]byte, 0, size)
	}
	out := make([]indexEnt, 0, len(x.ents)+len(news))
	mergeKeys(len(x.ents), len(news), x.key, func(j int) string { return news[j].k }, func(i, j int) {
		switch {
		case j < 0:
			out = append(out, x.ents[i])
		case i < 0:
			out = append(out, x.indexEnt(news[j], -1))
		default: // the same key: the new frame wins
			out = append(out, x.indexEnt(news[j], int(x.ents[i].ko)))
		}
	})
	x.ents = out
}

// mergeKeys goes through two lists sorted by key, each key once in each
// (their keys ka(i), i < na, and kb(j), j < nb), in key order: emit gets
// the position of the key in each list, -1 for the list without it.
func mergeKeys(na, nb int, ka, kb func(int) string, emit func(i, j int)) {
	i, j := 0, 0
	for i < na || j < nb {
		var c int
		switch {
		case j == nb:
			c = -1
		case i == na:
			c = 1
		default:
			c = strings.Compare(ka(i), kb(j))
		}
		switch {
		case c < 0:
			emit(i, -1)
			i++
		case c > 0:
			emit(-1, j)
			j++
		default:
			emit(i, j)
			i++
			j++
		}
	}
}

func cmpOff(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// loadLog brings idx (nil: none yet) up to date with the log of org (read
// through *scanBuf, see scanLog): a log
// of another generation (compacted since) is scanned from its start, the
// same one from idx.end on. A missing log, or one whose creation was cut
// short before its header was whole, is an empty index.
func loadLog(fs guest.RangeFS, scanBuf *[]byte, org string, idx *logIndex) (*logIndex, error) {
	p := logPath(org)
	var hb [headerSize + 1]byte
	n, err := fs.ReadAt(p, 0, hb[:])
	head := hb[:n]
	if abi.StatusOf(err) == abi.NotFound || err == nil && len(head) <= headerSize {
		if err == nil && len(head) == headerSize {
			if gen, ok := parseHeader(head); ok {
				return &logIndex{org: org, gen: gen, end: headerSize}, nil
			}
		}
		// No log, or a header torn by a crash: the header is written (and
		// synced) alone before any frame, so nothing follows it.
		return &logIndex{org: org}, nil
	}
	if err != nil {
		return nil, err
	}
	gen, ok := parseHeader(head)
	if !ok {
		return nil, abi.Errorf(abi.Internal, "the log of organization ", org, " is damaged: its header is not a log's")
	}
	if idx != nil && idx.lost != 0 {
		// Damage is never carried over: the log is read afresh (it may
		// have been restored from a backup, of the same length).
		idx = nil
	}
	if idx != nil && idx.gen == gen && idx.end > headerSize {
		// A log shorter than the index says was replaced (restored from a
		// backup): read it afresh, or the next frame would go past its end.
		var last [1]byte
		if n, err := fs.ReadAt(p, idx.end-1, last[:]); err != nil || n != 1 {
			idx = nil
		}
	}
	incremental := idx != nil && idx.gen == gen && idx.end >= headerSize
	if !incremental {
		idx = &logIndex{org: org, gen: gen, end: headerSize}
	}
	// The frames found go into an index of their own, without pointers
	// (see indexEnt): a first load finds every key of the log. Nothing of
	// idx changes unless the whole scan succeeds: a scan that fails part
	// way must not leave idx past frames it never indexed.
	var fresh logIndex
	// Writers append at the valid end, cutting a torn tail: bytes between
	// two good frames were put there by someone else (gaps).
	var first [2]int64
	var gapEnd int64
	prev, end := idx.end, idx.end
	err = scanLog(fs, scanBuf, p, gen, idx.end, func(f *frame) {
		if f.off != prev {
			if gapEnd == 0 {
				first = [2]int64{prev, f.off}
			}
			gapEnd = f.off
		}
		prev = f.end
		if f.op < opPut || f.op > opLegacy {
			return // a good frame of an op this flyte does not know
		}
		// A frame filed under another organization's log is listed, and
		// reported when read (its scope does not match).
		ko := len(fresh.keys)
		if keys, ok := f.appendKey(fresh.keys); ok {
			fresh.keys = keys
			fresh.ents = append(fresh.ents, indexEnt{ko: uint32(ko), kn: uint32(len(keys) - ko), off: f.off, n: uint32(f.end - f.off), op: f.op})
		}
	}, &end)
	if err != nil {
		return nil, err
	}
	if gapEnd != 0 && incremental {
		// Confirm damage from the header: what a scan from the index's end
		// saw may be a writer overwriting a torn tail while it read.
		return loadLog(fs, scanBuf, org, nil)
	}
	idx.end = end
	if gapEnd != 0 {
		idx.lost, idx.gapEnd, idx.hint = first[0], gapEnd, gapHint(fs, p, first)
	}
	idx.mergeIndex(&fresh)
	return idx, nil
}

// gapHint reads the start (at most hintRead bytes) of the stretch g of log
// p, which lies between two good frames and does not check, and returns
// the record it names as a frame, if its bytes still parse as a valid key
// ("" otherwise): a hint only, never trusted.
func gapHint(fs guest.RangeFS, p string, g [2]int64) string {
	n := min(g[1]-g[0], hintRead)
	if n <= frameHead {
		return ""
	}
	b := make([]byte, n)
	m, err := fs.ReadAt(p, g[0], b)
	if err != nil || m <= frameHead {
		return ""
	}
	return hintName(b[frameHead:m])
}

// hintName returns, from the start of a payload that did not check, the
// name of the record it seems to hold ("secret KEY", "secret KEY in project
// P, domain D"), or "" unless every part is a valid name.
func hintName(payload []byte) string {
	project, domain, key, _, ok := payloadKeyParts(payload, true)
	if !ok || !validName(string(key)) || len(project) > 0 && !validName(string(project)) || len(domain) > 0 && !validName(string(domain)) {
		return ""
	}
	h := "secret " + string(key)
	switch {
	case len(project) > 0 && len(domain) > 0:
		h += " in project " + string(project) + ", domain " + string(domain)
	case len(project) > 0:
		h += " in project " + string(project)
	case len(domain) > 0:
		h += " in domain " + string(domain)
	}
	return h
}

// scanLog reads the log p of generation gen from offset at to its end in
// chunks, calls fn for each good frame (its payload aliases a buffer that
// the next chunk reuses), and sets *end to the end of the last one (if it
// lies past *end).
//
// scanBuf is the buffer a scan reads a log into, kept and reused: a wasm
// guest's memory does not shrink, and its collector may not run within a
// call, so a scan must not allocate the size of the log.
func scanLog(fs guest.RangeFS, scanBuf *[]byte, p string, gen [genSize]byte, at int64, fn func(f *frame), end *int64) error {
	want := readChunk
	for {
		if len(*scanBuf) < want {
			*scanBuf = make([]byte, want)
		}
		n, err := fs.ReadAt(p, at, (*scanBuf)[:want])
		if err != nil {
			return err
		}
		buf := (*scanBuf)[:n]
		valid, partial := scanFrames(buf, at, gen, fn)
		if valid > *end {
			*end = valid
		}
		if len(buf) < want {
			return nil // the end of the file: a partial frame there is torn, or being written
		}
		switch {
		case partial < 0:
			at += int64(len(buf))
			want = readChunk
		case partial > at:
			at = partial // read the frame the chunk cut, whole, from its start
			want = readChunk
		default:
			// A frame longer than the chunk starts at at: read it whole.
			n := frameHead + int(u32(buf[4:]))
			if n <= want {
				at++ // cannot happen: scanFrames would have judged it
				continue
			}
			want = n
		}
	}
}

// readEntry reads and checks the frame of e in the log of idx, for the
// record (scope s, key). stale reports a frame that does not check, or
// says another key: the log was compacted since idx was read (or is
// damaged), and the caller reloads the index before it believes that.
func readEntry(fs guest.RangeFS, idx *logIndex, e logEntry, s abi.Scope, key string) (r *abi.Record, stale bool, err error) {
	b := make([]byte, e.n)
	n, err := fs.ReadAt(logPath(idx.org), e.off, b)
	if err != nil {
		return nil, false, err
	}
	return frameRecord(b[:n], idx.gen, e, s, key)
}

// frameRecord decodes the frame b of entry e, as readEntry.
func frameRecord(b []byte, gen [genSize]byte, e logEntry, s abi.Scope, key string) (*abi.Record, bool, error) {
	f, ok := checkFrame(b, gen)
	if !ok || len(b) != int(e.n) || f.op != e.op {
		return nil, true, nil
	}
	rec, ok := f.record()
	if !ok || rec.Scope.Project != s.Project || rec.Scope.Domain != s.Domain || rec.Key != key {
		return nil, true, nil
	}
	if rec.Scope.Org != s.Org {
		return nil, false, abi.Errorf(abi.Internal, "record does not match its location")
	}
	switch f.op {
	case opLegacy:
		r, err := decode(rec.Sealed, s, key)
		return r, false, err
	case opPut:
		return &rec, false, nil
	}
	return nil, false, abi.Errorf(abi.NotFound, "secret not found")
}

// frameRaw returns the wire bytes of the record of the put frame b of
// entry e, when they can go out as they are: a good frame of e's op and
// length, a well-formed record (every known field of its wire type), of
// scope s and key key. Anything else (a legacy frame, a frame that does
// not check) is frameRecord's to sort out. It allocates nothing.
func frameRaw(b []byte, gen [genSize]byte, e logEntry, s abi.Scope, key string) ([]byte, bool) {
	if e.op != opPut || len(b) != int(e.n) {
		return nil, false
	}
	f, ok := checkFrame(b, gen)
	if !ok || f.op != opPut {
		return nil, false
	}
	rec := f.payload[1:]
	n, ok := recordNames(rec)
	if !ok || string(n.org) != s.Org || string(n.project) != s.Project || string(n.domain) != s.Domain || string(n.key) != key {
		return nil, false
	}
	return rec, true
}

// names are a record's scope and key, aliasing its wire bytes.
type names struct{ org, project, domain, key []byte }

// recordNames returns the names of the record whose wire bytes are rec,
// and whether rec decodes as an abi.Record without error: the decoder's
// own walk, field by field as Record.UnmarshalFrom and
// Scope.UnmarshalFrom read them, without making their strings.
func recordNames(rec []byte) (n names, ok bool) {
	d := abi.NewDecoder(rec)
	for d.Next() {
		switch d.Field() {
		case 1:
			sd := abi.NewDecoder(d.Blob())
			for sd.Next() {
				switch sd.Field() {
				case 1:
					n.org = sd.Blob()
				case 2:
					n.project = sd.Blob()
				case 3:
					n.domain = sd.Blob()
				}
			}
			if sd.Err() != nil {
				return names{}, false
			}
		case 2:
			n.key = d.Blob()
		case 7:
			d.Blob()
		case 3:
			d.Uint32()
		case 4:
			d.Uint()
		case 5, 6:
			d.Int()
		}
	}
	return n, d.Err() == nil
}

// appendLog writes frames (whole frames of idx's generation, for the
// entries news, in order) at the log's valid end, creating the log when it
// has none: first its header alone (synced), with a new generation, so
// that a log whose creation a crash cut short holds no frame. The caller
// holds the writers' lock and has brought idx up to date under it;
// whatever lies past idx.end (a frame torn by a crash) is cut by write_at.
func appendLog(fs guest.RangeFS, idx *logIndex, frames []byte, news []logEntry) error {
	p := logPath(idx.org)
	if idx.end < headerSize {
		return abi.Errorf(abi.Internal, "log of ", idx.org, " has no header")
	}
	for off := 0; off < len(frames); {
		n := min(len(frames)-off, writeChunk)
		if off+n < len(frames) {
			n = frameBoundary(frames[off:], n)
		}
		if err := fs.WriteAt(p, idx.end+int64(off), frames[off:off+n]); err != nil {
			return err
		}
		off += n
	}
	for i := range news {
		news[i].off += idx.end
	}
	idx.end += int64(len(frames))
	idx.merge(news)
	return nil
}

// frameBoundary returns the largest length <= limit of whole frames at the
// start of b (at least one frame).
func frameBoundary(b []byte, limit int) int {
	at := 0
	for at < len(b) {
		n := frameHead + int(u32(b[at+4:]))
		if at > 0 && at+n > limit {
			break
		}
		at += n
	}
	return at
}

// newLog starts the log at p for idx: a new generation, and the header
// written alone (and synced) at offset 0, which cuts whatever p held.
func newLog(fs guest.RangeFS, p string, idx *logIndex) error {
	for i := range idx.gen {
		idx.gen[i] = byte(rand.Uint32())
	}
	if err := fs.WriteAt(p, 0, logHeader(idx.gen)); err != nil {
		return err
	}
	idx.end, idx.ents, idx.keys = headerSize, nil, nil
	return nil
}

// batch collects frames for one log.
type batch struct {
	gen    [genSize]byte
	frames []byte
	news   []logEntry // offsets relative to the start of frames
}

func (b *batch) add(op byte, r *abi.Record) {
	off := int64(len(b.frames))
	b.frames = appendFrame(b.frames, b.gen, op, r)
	b.news = append(b.news, logEntry{k: entKey(r.Scope.Project, r.Scope.Domain, r.Key), off: off, n: uint32(int64(len(b.frames)) - off), op: op})
}

package secrets

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"sync"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/scope"
	"github.com/flytesecrets/flyte/host/seal"
	"github.com/flytesecrets/flyte/host/state"
)

// High-water marks: the highest sealed version this machine has seen of each
// secret, per store, scope, key and incarnation. A record whose sealed
// version is lower than its mark was put back by whoever can write the
// store: a rollback. They live in the state directory, one file per store
// named after the store's id (the data key envelope's, or for a bare key
// the one derived from it: datakey.go), so that a re-key keeps them:
//
//	versions/STOREID
//
// Marks files named after a data key id, as flyte wrote them before, are
// no longer read: rollback detection of those stores starts again from
// what is seen next.
//
// in lines, oldest first, after a header line:
//
//	flyte-versions 1
//	INCARNATION VERSION ORG PROJECT DOMAIN KEY
//
// INCARNATION is 32 hex digits, VERSION a decimal number of at least 1, and
// an empty project or domain is written "@", which no valid name can be.

const (
	marksHeader = "flyte-versions 1\n"
	marksDir    = "versions/"
	// maxMarks and maxMarksBytes bound the file (about 100 bytes a line
	// with usual names): room for 100,000 secrets, well under
	// state.MaxFile whatever the names' lengths.
	maxMarks      = 150000
	maxMarksBytes = 12 << 20
	// maxIncarnations is how many incarnations of one key in one scope are
	// remembered; the oldest is forgotten first.
	maxIncarnations = 4
	markEmpty       = "@"
)

// markID names what a mark is about.
type markID struct {
	scope       abi.Scope
	key         string
	incarnation seal.Incarnation
}

// keyIn is a key in a scope.
type keyIn struct {
	scope abi.Scope
	key   string
}

// marks is a parsed marks file: the highest version per markID, the order
// in which the ids were first recorded (oldest first), and how many
// incarnations of each key are recorded.
type marks struct {
	version map[markID]uint64
	order   []markID
	count   map[keyIn]int
	size    int // bytes of the encoded lines
	// newest is built on first use by newestOf, on marks read as a
	// snapshot only (which a Manager may share between histories).
	newest     map[keyIn]uint64
	newestOnce sync.Once
}

func newMarks() *marks { return &marks{version: map[markID]uint64{}} }

// counts builds the incarnation counts on first use: only a write needs
// them, and parsing is on every read's path.
func (ms *marks) counts() map[keyIn]int {
	if ms.count == nil {
		ms.count = map[keyIn]int{}
		for _, id := range ms.order {
			ms.count[keyIn{id.scope, id.key}]++
		}
	}
	return ms.count
}

// parseMarks reads a marks file. Nil or empty input is an empty set. Any
// other deviation from the format, and duplicate lines, are errors. It is
// read on every get and run, so it avoids allocating per line what it can.
func parseMarks(b []byte) (*marks, error) { return parseMarksOf(b, nil) }

// parseMarksOf is parseMarks that keeps only the lines of the given keys
// (all when keys is nil) and skips the others unchecked: a task that needs
// three secrets does not parse the marks of a hundred thousand. What it
// returns may only be read, never encoded.
func parseMarksOf(b []byte, keys map[string]bool) (*marks, error) {
	ms := newMarks()
	if len(b) == 0 {
		return ms, nil
	}
	if !bytes.HasPrefix(b, []byte(marksHeader)) {
		return nil, errors.New("not a marks file (bad first line)")
	}
	b = b[len(marksHeader):]
	if lines := bytes.Count(b, []byte{'\n'}); keys == nil && lines <= maxMarks {
		ms.version = make(map[markID]uint64, lines)
		ms.order = make([]markID, 0, lines)
	}
	names := map[string]string{} // scope parts repeat: one string each
	intern := func(p []byte) string {
		if s, ok := names[string(p)]; ok {
			return s
		}
		s := string(p)
		names[s] = s
		return s
	}
	var f [6][]byte
	for n := 2; len(b) > 0; n++ {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return nil, fmt.Errorf("line %d is not terminated", n)
		}
		line := b[:i]
		b = b[i+1:]
		if keys != nil && !keys[string(line[bytes.LastIndexByte(line, ' ')+1:])] {
			continue
		}
		nf, rest := 0, line
		for nf <= len(f) {
			j := bytes.IndexByte(rest, ' ')
			if j < 0 {
				if nf < len(f) {
					f[nf] = rest
				}
				nf++
				break
			}
			if nf < len(f) {
				f[nf] = rest[:j]
			}
			nf++
			rest = rest[j+1:]
		}
		if nf != len(f) {
			return nil, fmt.Errorf("line %d has %d fields, want %d", n, nf, len(f))
		}
		var id markID
		if !lowerHex(f[0]) || len(f[0]) != 2*seal.IncarnationSize {
			return nil, fmt.Errorf("line %d: bad incarnation", n)
		}
		_, _ = hex.Decode(id.incarnation[:], f[0])
		v, ok := parseVersion(f[1])
		if !ok {
			return nil, fmt.Errorf("line %d: bad version", n)
		}
		for _, p := range f[2:] {
			if !markName(p) {
				return nil, fmt.Errorf("line %d: bad name", n)
			}
		}
		if string(f[2]) == markEmpty || string(f[5]) == markEmpty {
			return nil, fmt.Errorf("line %d: bad name", n)
		}
		id.scope = abi.Scope{Org: intern(f[2]), Project: intern(f[3]), Domain: intern(f[4])}
		if id.scope.Project == markEmpty {
			id.scope.Project = ""
		}
		if id.scope.Domain == markEmpty {
			id.scope.Domain = ""
		}
		id.key = string(f[5])
		if _, dup := ms.version[id]; dup {
			return nil, fmt.Errorf("line %d repeats an earlier one", n)
		}
		if len(ms.order) == maxMarks || ms.size+len(line)+1 > maxMarksBytes {
			return nil, fmt.Errorf("more than %d lines or %d bytes", maxMarks, maxMarksBytes)
		}
		ms.version[id] = v
		ms.order = append(ms.order, id)
		ms.size += len(line) + 1
	}
	return ms, nil
}

func lowerHex(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// parseVersion reads a decimal version of at least 1 without leading
// zeros, as strconv.AppendUint writes it.
func parseVersion(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 || b[0] == '0' {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (math.MaxUint64-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

// markName reports whether b can stand as a name in a marks line.
func markName(b []byte) bool {
	if len(b) == 0 || len(b) > 256 {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

func markPart(s string) string {
	if s == "" {
		return markEmpty
	}
	return s
}

// encode writes ms in the file format, oldest first, after dropping the
// oldest marks beyond the bounds.
func (ms *marks) encode() []byte {
	ms.trim()
	b := make([]byte, 0, len(marksHeader)+ms.size)
	b = append(b, marksHeader...)
	for _, id := range ms.order {
		b = hex.AppendEncode(b, id.incarnation[:])
		b = append(b, ' ')
		b = strconv.AppendUint(b, ms.version[id], 10)
		for _, p := range [...]string{id.scope.Org, markPart(id.scope.Project), markPart(id.scope.Domain), id.key} {
			b = append(b, ' ')
			b = append(b, p...)
		}
		b = append(b, '\n')
	}
	return b
}

// markable reports whether a record's names can be written in a marks file.
// Every genuine record's can (names are validated); this only keeps a
// hostile store from breaking the format.
func markable(s abi.Scope, key string) bool {
	for _, p := range []string{s.Org, s.Project, s.Domain, key} {
		if len(p) > 256 || p == markEmpty {
			return false
		}
		for i := 0; i < len(p); i++ {
			if p[i] <= ' ' || p[i] >= 0x7f {
				return false
			}
		}
	}
	return s.Org != "" && key != ""
}

// seen returns the highest version recorded for id, or 0.
func (ms *marks) seen(id markID) uint64 { return ms.version[id] }

// newestOf returns the highest version recorded for any incarnation of k,
// or 0. It must not be used on marks that change afterwards.
func (ms *marks) newestOf(k keyIn) uint64 {
	ms.newestOnce.Do(func() {
		ms.newest = map[keyIn]uint64{}
		for id, v := range ms.version {
			kk := keyIn{id.scope, id.key}
			ms.newest[kk] = max(ms.newest[kk], v)
		}
	})
	return ms.newest[k]
}

// raise records version v for id unless a higher one is recorded, and
// reports whether anything changed. It keeps at most maxIncarnations per
// scope and key, dropping the oldest; encode keeps the overall bounds.
func (ms *marks) raise(id markID, v uint64) bool {
	old, ok := ms.version[id]
	if ok {
		if v <= old {
			return false
		}
		ms.size += lineSize(id, v) - lineSize(id, old)
		ms.version[id] = v
		return true
	}
	k := keyIn{id.scope, id.key}
	if ms.counts()[k] >= maxIncarnations {
		for i, o := range ms.order {
			if o.scope == id.scope && o.key == id.key {
				ms.drop(i)
				break
			}
		}
	}
	ms.add(id, v)
	return true
}

// trim drops the oldest marks until the file is within its bounds, all
// at once: a first listing of many secrets may add thousands.
func (ms *marks) trim() {
	k := 0
	for ; len(ms.order)-k > maxMarks || ms.size > maxMarksBytes; k++ {
		id := ms.order[k]
		ms.size -= lineSize(id, ms.version[id])
		delete(ms.version, id)
		ms.uncount(id)
	}
	if k > 0 {
		ms.order = append([]markID(nil), ms.order[k:]...)
	}
}

// lineSize is the length of id's line in the file.
func lineSize(id markID, v uint64) int {
	return 2*seal.IncarnationSize + len(strconv.FormatUint(v, 10)) + len(id.scope.Org) +
		len(markPart(id.scope.Project)) + len(markPart(id.scope.Domain)) + len(id.key) + 6
}

func (ms *marks) add(id markID, v uint64) {
	ms.size += lineSize(id, v)
	ms.version[id] = v
	ms.order = append(ms.order, id)
	if ms.count != nil {
		ms.count[keyIn{id.scope, id.key}]++
	}
}

func (ms *marks) uncount(id markID) {
	if ms.count == nil {
		return
	}
	if k := (keyIn{id.scope, id.key}); ms.count[k] > 1 {
		ms.count[k]--
	} else {
		delete(ms.count, k)
	}
}

// drop forgets the i-th oldest mark.
func (ms *marks) drop(i int) {
	id := ms.order[i]
	ms.size -= lineSize(id, ms.version[id])
	delete(ms.version, id)
	ms.uncount(id)
	ms.order = append(ms.order[:i], ms.order[i+1:]...)
}

// RollbackError says a record is older than one this machine has seen.
type RollbackError struct {
	Version uint64 // the record's sealed version; 0 for a record without one
	Seen    uint64 // the highest version seen on this machine
}

func (e *RollbackError) Error() string {
	if e.Version == 0 {
		return fmt.Sprintf("rolled back: the record has no sealed version, but sealed version %d was seen on this machine", e.Seen)
	}
	return fmt.Sprintf("rolled back: version %d is older than version %d seen on this machine", e.Version, e.Seen)
}

// history is the marks of one store as read before the records they are
// checked against, so that a concurrent flyte that records a newer
// version after this one read the store never makes it cry rollback.
type history struct {
	m    *Manager
	name string // state file name, "" when this machine keeps no history
	snap *marks
}

// history reads the marks of the store whose data key is sealer's (with
// read; a create has nothing to check and skips that), only those of keys
// when some are given. Without a state directory (no HOME) it remembers
// nothing. A state directory that does not exist yet is read as empty and
// not created: a read creates it only when it has a version to record.
func (m *Manager) history(sealer *seal.Sealer, read bool, keys ...string) (*history, error) {
	h := &history{m: m, snap: newMarks()}
	if m.stateDir == "" {
		return h, nil
	}
	h.name = marksDir + m.marksID(sealer)
	if _, err := os.Lstat(m.stateDir); !read || errors.Is(err, os.ErrNotExist) {
		return h, nil
	}
	d, err := m.state()
	if err != nil {
		return nil, err
	}
	b, err := d.Read(h.name)
	if err != nil {
		return nil, err
	}
	if snap := m.parsedMarks(h.name, b); snap != nil {
		h.snap = snap
		return h, nil
	}
	var only map[string]bool
	if len(keys) > 0 {
		only = map[string]bool{}
		for _, k := range keys {
			only[k] = true
		}
	}
	if h.snap, err = parseMarksOf(b, only); err != nil {
		return nil, marksDamaged(d, h.name, err)
	}
	if only == nil {
		m.keepMarks(h.name, b, h.snap)
	}
	return h, nil
}

// MarksCache keeps the marks file last read whole, and what it parsed, so
// that a long-lived process (the agent) parses a file again only when its
// bytes changed: parsing 100,000 marks was about 55 ms of every listing.
// The bytes are compared, not the file's times: a rewrite within one tick
// of the clock may leave size and mtime as they were. The zero value is
// empty and ready; it is safe for concurrent use.
type MarksCache struct {
	mu   sync.Mutex
	name string
	raw  []byte
	snap *marks // read only, shared by the histories made from it
}

// parsedMarks returns the marks parsed from b, the file name, when they
// were kept, else nil.
func (m *Manager) parsedMarks(name string, b []byte) *marks {
	c := m.parsed
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.snap != nil && c.name == name && bytes.Equal(c.raw, b) {
		return c.snap
	}
	return nil
}

// keepMarks keeps snap, parsed whole from b, the file name.
func (m *Manager) keepMarks(name string, b []byte, snap *marks) {
	c := m.parsed
	c.mu.Lock()
	defer c.mu.Unlock()
	c.name, c.raw, c.snap = name, b, snap
}

// marksID names the marks file of the store: its store id (datakey.go),
// which a new data key for the same store (a re-key) keeps. Only a Manager
// whose store was never unlocked lacks one; it falls back to the key id.
func (m *Manager) marksID(sealer *seal.Sealer) string {
	if m.storeID != "" {
		return m.storeID
	}
	return sealer.KeyID()
}

func marksDamaged(d *state.Dir, name string, err error) error {
	return fmt.Errorf("the versions this machine has seen (%s/%s) are damaged: %v; remove the file to start again (rollback detection then starts from nothing)", d.Path(), name, err)
}

// state opens the state directory once.
func (m *Manager) state() (*state.Dir, error) {
	m.stateMu.Lock()
	defer m.stateMu.Unlock()
	if m.stateOpen != nil {
		return m.stateOpen, nil
	}
	d, err := state.Open(m.stateDir)
	if err != nil {
		return nil, err
	}
	m.stateOpen = d
	return d, nil
}

// ready opens the state directory before a write, so that a state
// directory flyte may not use stops the command before it changes the
// store.
func (h *history) ready() error {
	if h.name == "" {
		return nil
	}
	_, err := h.m.state()
	return err
}

// open verifies a record the store returned (see openRecord) and checks it
// against the marks; a failure is a *DamagedError. The caller clears the
// value.
func (h *history) open(sealer *seal.Sealer, r *abi.Record) ([]byte, *seal.Meta, error) {
	v, meta, err := openRecord(sealer, r)
	if err == nil {
		_, err = h.check(r.Scope, r.Key, meta)
	}
	if err != nil {
		clear(v)
		return nil, nil, &DamagedError{Key: r.Key, Scope: scope.Scope(r.Scope), Err: err}
	}
	return v, meta, nil
}

// check returns a *RollbackError when meta is older than what was seen of
// its incarnation before this read began. A record without sealed meta
// (a version-1 blob, from before flyte sealed versions) is accepted unless
// a sealed version of its key was seen: then it is an old record put back.
// It returns the mark it checked meta against (0 without meta): a caller
// that sees no higher version has no mark to raise.
func (h *history) check(s abi.Scope, key string, meta *seal.Meta) (uint64, error) {
	if meta == nil {
		if seen := h.snap.newestOf(keyIn{s, key}); seen > 0 {
			return 0, &RollbackError{Seen: seen}
		}
		return 0, nil
	}
	seen := h.snap.seen(markID{s, key, meta.Incarnation})
	if meta.Version < seen {
		return seen, &RollbackError{Version: meta.Version, Seen: seen}
	}
	return seen, nil
}

// sighting is one record whose sealed version is to be remembered.
type sighting struct {
	scope abi.Scope
	key   string
	meta  *seal.Meta
}

// remember raises the marks of what was seen, under the state file's lock,
// and writes the file only when a mark rose.
func (h *history) remember(seen []sighting) error {
	if h.name == "" {
		return nil
	}
	var todo []sighting
	for _, s := range seen {
		if s.meta != nil && markable(s.scope, s.key) && h.snap.seen(markID{s.scope, s.key, s.meta.Incarnation}) < s.meta.Version {
			todo = append(todo, s)
		}
	}
	if len(todo) == 0 {
		return nil // nothing new: a read changes nothing, not even the state dir
	}
	if h.m.hold(h.name, todo) {
		return nil
	}
	return h.m.recordMarks(h.name, todo)
}

// recordMarks raises the marks in the file name under its lock, and
// writes it only when a mark rose.
func (m *Manager) recordMarks(name string, todo []sighting) error {
	d, err := m.state()
	if err != nil {
		return err
	}
	return d.Update(name, func(old []byte) ([]byte, error) {
		ms, err := parseMarks(old)
		if err != nil {
			return nil, marksDamaged(d, name, err)
		}
		changed := false
		for _, s := range todo {
			if ms.raise(markID{s.scope, s.key, s.meta.Incarnation}, s.meta.Version) {
				changed = true
			}
		}
		if !changed {
			return nil, nil
		}
		return ms.encode(), nil
	})
}

// DeferMarks makes the writes that follow keep the versions they sealed in
// memory, until FlushMarks records them all with one rewrite of the marks
// file instead of one per secret: a migration of N secrets would rewrite
// a file of up to N lines N times. Until then, a crash loses only marks,
// which make rollback detection of those secrets start from what is seen
// next, as on a new machine.
func (m *Manager) DeferMarks() {
	m.stateMu.Lock()
	defer m.stateMu.Unlock()
	if m.held == nil {
		m.held = map[string][]sighting{}
	}
}

// hold keeps todo for FlushMarks when marks are deferred, and reports
// whether it did.
func (m *Manager) hold(name string, todo []sighting) bool {
	m.stateMu.Lock()
	defer m.stateMu.Unlock()
	if m.held == nil {
		return false
	}
	m.held[name] = append(m.held[name], todo...)
	return true
}

// unhold drops the held marks of key in s.
func (m *Manager) unhold(name string, s abi.Scope, key string) {
	m.stateMu.Lock()
	defer m.stateMu.Unlock()
	if m.held == nil {
		return
	}
	m.held[name] = slices.DeleteFunc(m.held[name], func(x sighting) bool { return x.scope == s && x.key == key })
}

// FlushMarks records the marks held since DeferMarks or the last flush;
// writes go on being deferred.
func (m *Manager) FlushMarks() error {
	m.stateMu.Lock()
	held := m.held
	if held != nil {
		m.held = map[string][]sighting{}
	}
	m.stateMu.Unlock()
	for name, todo := range held {
		if err := m.recordMarks(name, todo); err != nil {
			return err
		}
	}
	return nil
}

// forget drops every mark of key in s, after this machine deleted it, so
// that the marks of deleted secrets do not pile up. It never creates the
// state directory.
func (m *Manager) forget(sealer *seal.Sealer, s abi.Scope, key string) error {
	if m.stateDir == "" {
		return nil
	}
	name := marksDir + m.marksID(sealer)
	m.unhold(name, s, key)
	if _, err := os.Lstat(m.stateDir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	d, err := m.state()
	if err != nil {
		return err
	}
	return d.Update(name, func(old []byte) ([]byte, error) {
		ms, err := parseMarks(old)
		if err != nil {
			return nil, marksDamaged(d, name, err)
		}
		if ms.counts()[keyIn{s, key}] == 0 {
			return nil, nil
		}
		for i := len(ms.order) - 1; i >= 0; i-- {
			if id := ms.order[i]; id.scope == s && id.key == key {
				ms.drop(i)
			}
		}
		return ms.encode(), nil
	})
}

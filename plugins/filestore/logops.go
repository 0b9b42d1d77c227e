package filestore

// The operations of a store of format 2: records in logs (logstore.go),
// with the legacy trees of a conversion under way read for the keys no log
// holds (layout.go).

import (
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/abi/guest"
)

// compactAt: a write compacts its log when the log holds more than this
// many bytes of frames no key needs, and more of them than of live ones.
const compactAt = 1 << 20

// index returns the index of org's log, brought up to date.
func (st *Store) index(fs guest.RangeFS, org string) (*logIndex, error) {
	if st.lists.logs == nil {
		st.lists.logs = map[string]*logIndex{}
	}
	idx, err := loadLog(fs, &st.lists.scanBuf, org, st.lists.logs[org])
	if err != nil {
		// The next call reads the log afresh, from its header.
		delete(st.lists.logs, org)
		return nil, err
	}
	st.lists.logs[org] = idx
	return idx, nil
}

// reload reads org's log afresh.
func (st *Store) reload(fs guest.RangeFS, org string) (*logIndex, error) {
	delete(st.lists.logs, org)
	return st.index(fs, org)
}

func treePath(tree string, s abi.Scope, key string) string {
	return tree + "/" + s.Org + "/" + part(s.Project) + "/" + part(s.Domain) + "/" + key
}

// lookup finds the record (s, key): found reports a live one (in a log, or
// in a legacy tree when no log knows the key), r is it and err the error
// reading it (a damaged record is found, with an error).
func (st *Store) lookup(fs guest.RangeFS, lay layout, s abi.Scope, key string) (r *abi.Record, found bool, err error) {
	idx, err := st.index(fs, s.Org)
	if err != nil {
		return nil, false, err
	}
	k := entKey(s.Project, s.Domain, key)
	for attempt := 0; ; attempt++ {
		e, ok := idx.entry(k)
		if ok && idx.superseded(e) {
			// Damage after its latest good frame may have been a later
			// frame of it: found (it can be deleted), never read.
			return nil, e.op != opDelete, idx.lostErr()
		}
		if ok {
			if e.op == opDelete {
				return nil, false, nil
			}
			r, stale, err := readEntry(fs, idx, e, s, key)
			if !stale {
				return r, true, err
			}
			if attempt > 0 {
				return nil, true, abi.Errorf(abi.Internal, "corrupt record in the log")
			}
			// Compacted since the index was read, or damaged: read again.
			if idx, err = st.reload(fs, s.Org); err != nil {
				return nil, false, err
			}
			continue
		}
		if idx.lost != 0 {
			// Damage may have been it (a log's frame wins over a tree's).
			return nil, false, idx.lostErr()
		}
		if len(lay.trees) == 0 || attempt > 0 {
			return nil, false, nil
		}
		for _, t := range lay.trees {
			r, err := st.read(treePath(t, s, key), s, key)
			if abi.StatusOf(err) != abi.NotFound {
				return r, true, err
			}
		}
		// Not in a tree: the conversion may have moved it into the log
		// since the index was read.
		if idx, err = st.index(fs, s.Org); err != nil {
			return nil, false, err
		}
	}
}

func notFound() error { return abi.Errorf(abi.NotFound, "secret not found") }

func conflict(expected, now uint64) error {
	return abi.Errorf(abi.Conflict, "secret was changed since version ", strconv.FormatUint(expected, 10), " (now version ", strconv.FormatUint(now, 10), ")")
}

// getLog serves GET.
func (st *Store) getLog(fs guest.RangeFS, lay layout, s abi.Scope, key string) (*abi.Record, error) {
	r, found, err := st.lookup(fs, lay, s, key)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, notFound()
	}
	return r, nil
}

// appendOne appends one frame to org's log under the writers' lock, and
// compacts the log when it holds mostly frames no key needs.
func (st *Store) appendOne(fs guest.RangeFS, lay layout, op byte, r *abi.Record) error {
	idx, err := st.index(fs, r.Scope.Org)
	if err != nil {
		return err
	}
	if idx.end < headerSize {
		if err := newLog(fs, logPath(idx.org), idx); err != nil {
			return err
		}
	}
	b := batch{gen: idx.gen}
	b.add(op, r)
	if err := appendLog(fs, idx, b.frames, b.news); err != nil {
		return err
	}
	// A write is durable once appended; a compaction that fails now is
	// tried again by the next write.
	if !lay.converting {
		if dead := idx.end - headerSize - idx.liveBytes(); dead > compactAt && dead > idx.liveBytes() {
			_ = st.compactLog(fs, idx)
		}
	}
	return nil
}

func (st *Store) createLog(fs guest.RangeFS, lay layout, r *abi.Record) (*abi.Record, error) {
	if _, found, err := st.lookup(fs, lay, r.Scope, r.Key); found || err != nil {
		if _, lost := err.(lostError); err == nil || found && !lost && abi.StatusOf(err) == abi.Internal {
			return nil, abi.Errorf(abi.AlreadyExists, "secret already exists")
		}
		return nil, err
	}
	rec := *r
	rec.Version = 1
	if err := st.appendOne(fs, lay, opPut, &rec); err != nil {
		return nil, err
	}
	return &rec, nil
}

func (st *Store) updateLog(fs guest.RangeFS, lay layout, r *abi.Record, expected uint64) (*abi.Record, error) {
	old, found, err := st.lookup(fs, lay, r.Scope, r.Key)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, notFound()
	}
	if expected != 0 && old.Version != expected {
		return nil, conflict(expected, old.Version)
	}
	rec := *r
	rec.Version = old.Version + 1
	rec.Created = old.Created
	if err := st.appendOne(fs, lay, opPut, &rec); err != nil {
		return nil, err
	}
	return &rec, nil
}

func (st *Store) deleteLog(fs guest.RangeFS, lay layout, s abi.Scope, key string, expected uint64) error {
	old, found, err := st.lookup(fs, lay, s, key)
	if !found {
		if err == nil {
			err = notFound()
		}
		return err
	}
	if expected != 0 {
		if err != nil {
			return err
		}
		if old.Version != expected {
			return conflict(expected, old.Version)
		}
	}
	return st.appendOne(fs, lay, opDelete, &abi.Record{Scope: s, Key: key})
}

// logOrgs returns the organizations a store of format 2 holds records of:
// those with a log and those of the legacy trees, in order.
func (st *Store) logOrgs(fs guest.RangeFS, c *listCache, lay layout) ([]string, error) {
	ents, err := fs.ReadDir(logDir)
	if err != nil && abi.StatusOf(err) != abi.NotFound {
		return nil, err
	}
	var orgs []string
	for _, e := range ents {
		if !e.Dir && validName(e.Name) {
			orgs = append(orgs, e.Name)
		}
	}
	for _, t := range lay.trees {
		more, err := st.names(c, t, true)
		if err != nil {
			return nil, err
		}
		orgs = append(orgs, more...)
	}
	sort.Strings(orgs)
	return slices.Compact(orgs), nil
}

// view returns the entries a listing of org goes through, in order: the
// log's, and while a conversion is under way the legacy trees' keys that
// the log does not know (op opTree, off the tree's index; the first tree
// wins), read through the listing's cache.
func (st *Store) view(c *listCache, lay layout, idx *logIndex) (entries, error) {
	if len(lay.trees) == 0 {
		return idx, nil
	}
	var legacy []logEntry
	for ti, t := range lay.trees {
		_, err := st.walkTreeCached(c, t+"/"+idx.org, func(p, d, key string) {
			legacy = append(legacy, logEntry{k: entKey(p, d, key), off: int64(ti), op: opTree})
		})
		if err != nil {
			return nil, err
		}
	}
	slices.SortFunc(legacy, func(a, b logEntry) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return cmpOff(a.off, b.off) // the first tree first
	})
	legacy = slices.CompactFunc(legacy, func(a, b logEntry) bool { return a.k == b.k })
	out := make(entryList, 0, idx.len()+len(legacy))
	mergeKeys(idx.len(), len(legacy), idx.key, func(j int) string { return legacy[j].k }, func(i, j int) {
		if i >= 0 { // the log wins
			out = append(out, idx.at(i))
		} else {
			out = append(out, legacy[j])
		}
	})
	return out, nil
}

// walkTreeCached is walkTree over names read through the listing's cache.
func (st *Store) walkTreeCached(c *listCache, base string, fn func(project, domain, key string)) (bool, error) {
	projects, err := st.names(c, base, true)
	if err != nil {
		return false, err
	}
	for _, p := range projects {
		domains, err := st.names(c, base+"/"+part(p), true)
		if err != nil {
			return false, err
		}
		for _, d := range domains {
			keys, err := st.names(c, base+"/"+part(p)+"/"+part(d), false)
			if err != nil {
				return false, err
			}
			for _, k := range keys {
				fn(p, d, k)
			}
		}
	}
	return true, nil
}

// slot is one entry of a page being read.
type slot struct {
	s   abi.Scope
	key string
	e   logEntry
	idx *logIndex
	r   *abi.Record
	// raw is the record's wire bytes in its frame (aliasing the page's
	// arena), when readPage took them as they are; r is then nil.
	raw []byte
	err error
}

// maxGap: two frames of a page less than this far apart in a log are read
// with one read_at.
const maxGap = 64 << 10

// pageRead bounds one read_at of a page's frames.
const pageRead = 4 << 20

// listLog serves a page of LIST on a store of format 2.
func (st *Store) listLog(fs guest.RangeFS, lay layout, c *listCache, req *abi.ListRequest, at pos) (*abi.ListResponse, error) {
	limit := int(req.Limit)
	if limit <= 0 {
		limit = maxLimit // a page costs a few reads, whatever its length
	}
	limit = min(limit, maxLimit)
	hasAfter := req.PageToken != ""
	orgs := []string{req.Org}
	if req.AllOrgs {
		var err error
		if orgs, err = st.logOrgs(fs, c, lay); err != nil {
			return nil, err
		}
	}
	// The page's slots are kept between calls, as its buffers are: grown
	// by append to 5,000 slots, a page was most of a listing's garbage.
	page := st.lists.page[:0]
	defer func() { st.lists.page = clearSlots(page) }()
	size, full := 0, false
	for _, o := range orgs {
		if o == "" || hasAfter && o < at.org {
			continue
		}
		idx, err := st.index(fs, o)
		if err != nil {
			return nil, err
		}
		if idx.lost != 0 {
			return nil, idx.lostErr()
		}
		view, err := st.view(c, lay, idx)
		if err != nil {
			return nil, err
		}
		start := 0
		if hasAfter && o == at.org {
			k := entKey(at.project, at.domain, at.key)
			start = sort.Search(view.len(), func(i int) bool { return view.at(i).k > k })
		}
		for i := start; i < view.len(); i++ {
			e := view.at(i)
			if e.op == opDelete {
				continue
			}
			p, d, key := splitKey(e.k)
			if req.HasProject && p != req.Project || req.HasDomain && d != req.Domain || req.Key != "" && key != req.Key {
				continue
			}
			if len(page) == limit {
				full = true
				break
			}
			sl := slot{s: abi.Scope{Org: o, Project: p, Domain: d}, key: key, e: e, idx: idx}
			n := int(e.n) + 256
			if e.op == opTree {
				sl.r, sl.err = st.read(treePath(lay.trees[e.off], sl.s, key), sl.s, key)
				if abi.StatusOf(sl.err) == abi.NotFound {
					// Converted since: the log has it now.
					sl.r, _, sl.err = st.lookup(fs, layout{format: 2}, sl.s, key)
					if sl.r == nil && sl.err == nil {
						sl.err = notFound()
					}
				}
				n = 256
				if sl.r != nil {
					n += len(sl.r.Sealed)
				}
			}
			if size+n > pageBytes && len(page) > 0 {
				full = true
				break
			}
			size += n
			page = append(page, sl)
		}
		if full {
			break
		}
	}
	if err := st.readPage(fs, page); err != nil {
		return nil, err
	}
	// A frame that did not check made readPage read its log afresh, which
	// may have found damage that the index kept from an earlier call did
	// not know.
	for _, o := range orgs {
		if idx := st.lists.logs[o]; idx != nil && idx.lost != 0 {
			return nil, idx.lostErr()
		}
	}
	// Records go out in wire form, in the page's order: a frame's own
	// bytes (readPage checked them), or the record encoded.
	resp := &abi.ListResponse{}
	if cap(st.lists.answer) < size+len(page)*8 {
		st.lists.answer = make([]byte, 0, size+len(page)*8)
	}
	enc := st.lists.answer[:0]
	for _, sl := range page {
		switch {
		case sl.raw != nil:
			enc = abi.AppendEncodedRecord(enc, sl.raw)
		case sl.err == nil && sl.r != nil:
			enc = abi.AppendEncodedRecord(enc, abi.Marshal(sl.r))
		case sl.err == nil || abi.StatusOf(sl.err) == abi.NotFound:
			// Deleted while we listed.
		default:
			resp.Damaged = append(resp.Damaged, abi.Damaged{Scope: sl.s, Key: sl.key, Reason: sl.err.Error()})
		}
	}
	resp.Encoded = enc
	if full {
		lastSl := page[len(page)-1]
		resp.NextPageToken = pageToken(pos{org: lastSl.s.Org, project: lastSl.s.Project, domain: lastSl.s.Domain, key: lastSl.key}, c.id, req.AllOrgs)
	}
	return resp, nil
}

// clearSlots drops what the slots of page point to (records, frames of
// the arena), for the next page to reuse them, and returns page emptied.
func clearSlots(page []slot) []slot {
	clear(page)
	return page[:0]
}

// readPage reads the log frames of a page, with one read_at for frames
// that lie close together in a log. A frame that does not check (its log
// was compacted since) is looked up again in the log read afresh.
func (st *Store) readPage(fs guest.RangeFS, page []slot) error {
	order := st.lists.order[:0]
	defer func() { st.lists.order = order[:0] }()
	for i := range page {
		if page[i].e.op != opTree {
			order = append(order, i)
		}
	}
	// A page of one organization's log is in key order, and mostly in
	// log order already: sorted only when it is not.
	inLog := func(a, b int) int {
		x, y := &page[a], &page[b]
		if x.idx != y.idx {
			return strings.Compare(x.idx.org, y.idx.org)
		}
		return cmpOff(x.e.off, y.e.off)
	}
	if !slices.IsSortedFunc(order, inLog) {
		slices.SortFunc(order, inLog)
	}
	// The page's frames are copied into one buffer kept between calls, of
	// their total size, which its records alias until the answer is
	// encoded; the reads go through another kept buffer: a wasm guest's
	// memory never shrinks, its collector may not run within a call, and
	// an instance that grew past half its cap is replaced (with its index).
	total := 0
	for _, k := range order {
		total += int(page[k].e.n)
	}
	if cap(st.lists.arena) < total {
		st.lists.arena = make([]byte, 0, total)
	}
	arena := st.lists.arena[:0]
	var stale []int
	for i := 0; i < len(order); {
		first := page[order[i]]
		from, to := first.e.off, first.e.off+int64(first.e.n)
		j := i + 1
		for ; j < len(order); j++ {
			nx := page[order[j]]
			if nx.idx != first.idx || nx.e.off-to > maxGap || nx.e.off+int64(nx.e.n)-from > pageRead {
				break
			}
			to = max(to, nx.e.off+int64(nx.e.n))
		}
		if int64(cap(st.lists.readBuf)) < to-from {
			st.lists.readBuf = make([]byte, to-from)
		}
		buf := st.lists.readBuf[:to-from]
		n, err := fs.ReadAt(logPath(first.idx.org), from, buf)
		if err != nil {
			return err
		}
		buf = buf[:n]
		for _, k := range order[i:j] {
			sl := &page[k]
			lo, hi := sl.e.off-from, sl.e.off-from+int64(sl.e.n)
			var b []byte
			if hi <= int64(len(buf)) {
				at := len(arena)
				arena = append(arena, buf[lo:hi]...) // within its capacity: earlier records stay valid
				b = arena[at:]
			}
			if raw, ok := frameRaw(b, sl.idx.gen, sl.e, sl.s, sl.key); ok {
				sl.raw = raw
				continue
			}
			var isStale bool
			sl.r, isStale, sl.err = frameRecord(b, sl.idx.gen, sl.e, sl.s, sl.key)
			if isStale {
				stale = append(stale, k)
			}
		}
		i = j
	}
	for _, k := range stale {
		sl := &page[k]
		sl.r, _, sl.err = st.lookup(fs, layout{format: 2}, sl.s, sl.key)
		if sl.r == nil && sl.err == nil {
			sl.err = notFound()
		}
	}
	return nil
}

// compactLog rewrites the log of idx with only the frames its keys need
// (no tombstone: it is never called while legacy trees remain), under a
// new generation: written to log/ORG.compact, then renamed over the log.
// The caller holds the writers' lock and has brought idx up to date.
// Readers that hold the old generation fail to check the frames they read
// from the new log, and read it afresh.
func (st *Store) compactLog(fs guest.RangeFS, idx *logIndex) error {
	// A compaction keeps good frames only: it must not drop the damage
	// that reads report. Its own scan of the log, from the header, under
	// the writers' lock, is what counts: damage may have come after the
	// index kept between calls read those bytes (a long-lived store).
	org := idx.org
	idx, err := loadLog(fs, &st.lists.scanBuf, org, nil)
	if err != nil {
		delete(st.lists.logs, org)
		return err
	}
	st.lists.logs[idx.org] = idx
	if idx.lost != 0 {
		return idx.lostErr()
	}
	tmp := logPath(idx.org) + ".compact"
	nx := &logIndex{org: idx.org}
	if err := newLog(fs, tmp, nx); err != nil {
		return err
	}
	var buf []byte
	var news []logEntry
	var werr error
	flush := func() {
		if werr == nil && len(buf) > 0 {
			werr = fs.WriteAt(tmp, nx.end, buf)
			nx.end += int64(len(buf))
		}
		buf = buf[:0]
	}
	var end int64
	var arena keyArena
	prev, gaps, live := int64(headerSize), false, 0
	err = scanLog(fs, &st.lists.scanBuf, logPath(idx.org), idx.gen, headerSize, func(f *frame) {
		gaps = gaps || f.off != prev
		prev = f.end
		if f.op < opPut || f.op > opLegacy {
			return
		}
		k, _, ok := f.key(&arena)
		if !ok {
			return
		}
		if e, ok := idx.entry(k); !ok || e.off != f.off || e.op == opDelete {
			return
		}
		live++
		off := nx.end + int64(len(buf))
		buf = appendPayload(buf, nx.gen, f.payload)
		news = append(news, logEntry{k: k, off: off, n: uint32(f.end - f.off), op: f.op})
		if len(buf) >= writeChunk {
			flush()
		}
	}, &end)
	flush()
	if err == nil {
		err = werr
	}
	if err != nil {
		return err
	}
	if gaps || end != idx.end || live != idx.liveCount() {
		// Changed since its index was read, under the lock: not ours to drop.
		delete(st.lists.logs, idx.org)
		_ = fs.RemoveAll(tmp)
		return abi.Errorf(abi.Internal, "the log of organization ", idx.org, " changed or is damaged: not compacted")
	}
	if err := fs.Rename(tmp, logPath(idx.org)); err != nil {
		return err
	}
	nx.merge(news)
	st.lists.logs[idx.org] = nx
	return nil
}

// Compact implements guest.Compacter: it finishes a conversion under way
// (removing the legacy trees), then rewrites every log that holds frames
// no key needs (earlier values, deleted records), so that values replaced
// or deleted before the call cannot be read back from the store. A store
// of format 1 keeps no history: nothing to do.
func (st *Store) Compact() error {
	fs, ok := st.fs.(guest.RangeFS)
	if !ok {
		return nil
	}
	st.lists.op.Lock()
	defer st.lists.op.Unlock()
	lay, err := st.detect(fs)
	if err != nil || lay.format == 0 || lay.format == 1 && !st.lists.convert {
		return err
	}
	if err := fs.Lock(lockName); err != nil {
		return err
	}
	if lay, err = st.prepare(fs); err != nil {
		return err
	}
	if lay.converting {
		if err := st.convert(fs, &lay, int(^uint(0)>>1)); err != nil {
			return err
		}
	}
	orgs, err := st.logOrgs(fs, nil, lay)
	if err != nil {
		return err
	}
	for _, o := range orgs {
		idx, err := st.index(fs, o)
		if err != nil {
			return err
		}
		if idx.end > headerSize && idx.end-headerSize > idx.liveBytes() {
			if err := st.compactLog(fs, idx); err != nil {
				return err
			}
		}
	}
	return nil
}

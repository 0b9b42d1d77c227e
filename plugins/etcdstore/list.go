package etcdstore

import (
	"bytes"

	"github.com/flytesecrets/flyte/abi"
)

// prefixEnd is the range_end that covers every key starting with p.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return []byte{0}
}

// List implements guest.Store: one range of etcd keys, narrowed by the
// filters that are prefixes of the layout, read in ranges whose count is
// learned from the sizes seen (hint) so that a page stays under pageBytes;
// a range the host finds too large is read again key by key. The page
// token is the last etcd key read, after P "s/".
func (s *Store) List(req *abi.ListRequest) (*abi.ListResponse, error) {
	if err := s.load(); err != nil {
		return nil, err
	}
	base := []byte(s.prefix + "s/")
	var narrow []byte
	if !req.AllOrgs {
		if !validName(req.Org) {
			return nil, abi.Errorf(abi.InvalidArgument, "invalid organization")
		}
		narrow = append(append(narrow, req.Org...), sep)
		if req.HasProject {
			if req.Project != "" && !validName(req.Project) {
				return nil, abi.Errorf(abi.InvalidArgument, "invalid project")
			}
			narrow = append(append(narrow, req.Project...), sep)
			if req.HasDomain {
				if req.Domain != "" && !validName(req.Domain) {
					return nil, abi.Errorf(abi.InvalidArgument, "invalid domain")
				}
				narrow = append(append(narrow, req.Domain...), sep)
			}
		}
	}
	start := append(bytes.Clone(base), narrow...)
	end := prefixEnd(start)
	if req.PageToken != "" {
		tok := append(bytes.Clone(base), req.PageToken...)
		if bytes.Compare(tok, start) < 0 || bytes.Compare(tok, end) >= 0 {
			return nil, abi.Errorf(abi.InvalidArgument, "bad page token")
		}
		start = append(tok, 0)
	}
	want := int(req.Limit)
	if want <= 0 {
		want = defaultLimit
	}
	want = min(want, maxLimit)

	resp := new(abi.ListResponse)
	size := 0
	var last []byte
	for {
		n := len(resp.Records) + len(resp.Damaged)
		if n == want || size >= pageBytes || s.g.exhausted() {
			break
		}
		kvs, more, err := s.rangePage(start, end, min(want-n, s.hint))
		if err != nil {
			return nil, err
		}
		full := false
		for i := range kvs {
			k := &kvs[i]
			cost := len(k.value) + 256
			if n := len(resp.Records) + len(resp.Damaged); n > 0 && (size+cost > pageBytes || n == want) {
				full = true
				break
			}
			last = k.key
			s.add(resp, req, k, len(base))
			size += cost
		}
		if !full && !more {
			// The range is exhausted: the last page.
			return resp, nil
		}
		if full {
			break
		}
		start = append(bytes.Clone(last), 0)
	}
	if last == nil {
		// The call's limits were spent before anything was read.
		return nil, abi.Errorf(abi.Unavailable, "etcd store: no room was left in the call for a page of the listing")
	}
	resp.NextPageToken = string(last[len(base):])
	return resp, nil
}

// add puts one kv of the listing into resp, as a record or damaged; a key
// that is not one of the layout's is skipped.
func (s *Store) add(resp *abi.ListResponse, req *abi.ListRequest, k *kv, baseLen int) {
	sc, key, ok := parseRecordKey(k.key[baseLen:])
	if !ok || !req.Matches(sc, key) {
		return
	}
	if k.gone {
		return
	}
	if k.tooLarge {
		resp.Damaged = append(resp.Damaged, abi.Damaged{Scope: sc, Key: key, Reason: "value too large to list"})
		return
	}
	r, err := decodeRecord(k.value, sc, key)
	if err != nil {
		resp.Damaged = append(resp.Damaged, abi.Damaged{Scope: sc, Key: key, Reason: err.Error()})
		return
	}
	resp.Records = append(resp.Records, *r)
}

// rangePage reads up to count keys of [start, end) with their values. more
// says keys are left after those returned.
func (s *Store) rangePage(start, end []byte, count int) ([]kv, bool, error) {
	count = max(count, 1)
	v, err := s.g.post("/v3/kv/range", rangeBody(start, end, count, false), false, rangeBytes)
	if abi.StatusOf(err) == abi.TooLarge {
		// Too many large values for one answer: ask for fewer next time,
		// and read these one by one.
		s.hint = max(1, count/8)
		return s.rangeEach(start, end, count)
	}
	if err != nil {
		return nil, false, err
	}
	kvs, more, ok := rangeAnswer(v, start, end)
	if !ok {
		return nil, false, malformed()
	}
	if len(kvs) > count {
		return nil, false, malformed()
	}
	if len(kvs) > 0 {
		per := 0
		for i := range kvs {
			per += len(kvs[i].value)*4/3 + len(kvs[i].key)*4/3 + 128
		}
		per /= len(kvs)
		s.hint = max(1, min(maxLimit, rangeBytes*3/4/per))
	}
	return kvs, more, nil
}

// rangeAnswer reads a range answer for [start, end): its kvs, which must
// be in order within it, and "more".
func rangeAnswer(v *jvalue, start, end []byte) ([]kv, bool, bool) {
	kvs, ok := kvsOf(v)
	if !ok {
		return nil, false, false
	}
	more, ok := v.get("more").boolean()
	if !ok || more && len(kvs) == 0 {
		return nil, false, false
	}
	prev := start
	for i := range kvs {
		k := kvs[i].key
		if bytes.Compare(k, prev) < 0 || i > 0 && bytes.Equal(k, prev) || bytes.Compare(k, end) >= 0 {
			return nil, false, false
		}
		prev = k
	}
	return kvs, more, true
}

// rangeEach reads the keys of [start, end) (up to count), then each value
// alone, while the call has room; a value too large to read alone is
// returned without one (listed as damaged).
func (s *Store) rangeEach(start, end []byte, count int) ([]kv, bool, error) {
	v, err := s.g.post("/v3/kv/range", rangeBody(start, end, count, true), false, rangeBytes)
	if err != nil {
		return nil, false, err
	}
	keys, more, ok := rangeAnswer(v, start, end)
	if !ok {
		return nil, false, malformed()
	}
	out := make([]kv, 0, len(keys))
	size := 0
	for i := range keys {
		if len(out) > 0 && (s.g.exhausted() || size >= pageBytes) {
			return out, true, nil
		}
		cur, err := s.get(keys[i].key)
		switch {
		case abi.StatusOf(err) == abi.TooLarge:
			out = append(out, kv{key: keys[i].key, tooLarge: true})
			continue
		case err != nil:
			return nil, false, err
		case cur == nil:
			out = append(out, kv{key: keys[i].key, gone: true}) // deleted meanwhile
			continue
		}
		size += len(cur.value) + 256
		out = append(out, *cur)
	}
	return out, more, nil
}

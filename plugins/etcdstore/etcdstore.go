// Package etcdstore is the built-in "etcd" store: secrets kept in an etcd
// 3.4+ cluster, reached through its v3 JSON gateway over the http
// capability (abi/SPEC.md, section 2.4). It is the logic of the plugin
// built from ./wasm and has no wasm-specific code: it talks to etcd only
// through a guest.HTTP.
//
// Layout under the configured prefix P (default "/flyte/"):
//
//	P s/ORG,PROJECT,DOMAIN,KEY   one record (abi.Record, wire-encoded after a magic line)
//	P m/NAME                     store-wide values (the data key's envelope)
//
// An empty project or domain is the empty string. The separator ',' sorts
// below every byte a name or a key may hold ('-' is the lowest), so etcd's
// byte order of the keys is the listing order (org, project, domain, key)
// with "" first: a listing is one range read in pages.
//
// Every write is one etcd txn that compares before it writes: a create
// only while the key's create_revision is 0, an update or a delete only
// while its mod_revision is the one just read, and a guarded write (ABI 1.3)
// only while the guard's meta value is exactly the expected bytes. Two
// machines writing one secret therefore never lose an update or mix
// values. A write whose answer was lost (an endpoint that timed out) may
// still have been applied; its retry on the next endpoint goes through
// the same compare, and a failed compare that finds our own record (its
// sealed value holds a unique nonce) is our write, applied: so retries
// are idempotent. When no endpoint can tell, the error says that the write
// may or may not have been applied.
package etcdstore

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/abi/guest"
)

// Info describes the plugin.
var Info = guest.Info{
	Name:         "etcd",
	Version:      "1.0.0",
	Summary:      "etcd store: secrets in an etcd 3.4+ cluster, through its JSON gateway",
	Capabilities: []string{"http"},
}

const (
	// magic starts every record value, so that a stray value is known not
	// to be a record.
	magic = "flyterec1\n"
	sep   = ','

	defaultPrefix = "/flyte/"
	maxEndpoints  = 16
	maxPrefix     = 256

	defaultLimit = 500
	maxLimit     = 5000
	// pageBytes bounds a page's records (sealed values and 256 bytes
	// each): well under the 8 MiB of a message.
	pageBytes = 4 << 20
	// rangeBytes is the largest range answer asked for: JSON, base64
	// values, about 4/3 of what it holds, so under the page's bound too.
	rangeBytes = 6 << 20
	// maxUpdateTries bounds the read-compare-write rounds of an update
	// that others keep winning.
	maxUpdateTries = 5
)

// Store implements guest.Store, guest.Fenced and guest.Compacter over
// etcd's gateway.
type Store struct {
	http     guest.HTTP
	config   func() []byte
	timeLeft func() uint32

	loaded bool
	err    error
	prefix string
	g      gateway
	// hint is how many records one range asks for: learned from the
	// sizes of earlier answers, so that a page of large values is not
	// asked for whole (a cache, like the instance).
	hint int
}

// New returns a store that reads its configuration with config (the
// plugin's abi.PluginConfig: endpoints, prefix, user), sends its requests
// with h, and learns the time left in a call from timeLeft
// (milliseconds).
func New(h guest.HTTP, config func() []byte, timeLeft func() uint32) *Store {
	return &Store{http: h, config: config, timeLeft: timeLeft, hint: defaultLimit}
}

// load reads the configuration once, and starts a call.
func (s *Store) load() error {
	if !s.loaded {
		s.loaded = true
		s.err = s.configure(s.config())
	}
	if s.err == nil {
		s.g.begin()
	}
	return s.err
}

func badConfig(msg ...string) error {
	return abi.Errorf(abi.InvalidArgument, append([]string{"etcd store: "}, msg...)...)
}

func (s *Store) configure(b []byte) error {
	var c abi.PluginConfig
	if err := abi.Unmarshal(b, &c); err != nil {
		return badConfig("malformed configuration")
	}
	eps := c.Get("endpoints")
	if eps == "" {
		return badConfig("no endpoints are configured (hint: set store.endpoints in flyte.toml)")
	}
	list := strings.Split(eps, ",")
	if len(list) > maxEndpoints {
		return badConfig("more than ", strconv.Itoa(maxEndpoints), " endpoints")
	}
	for i, ep := range list {
		if !validEndpoint(ep) {
			return badConfig("endpoint #", strconv.Itoa(i+1), " is not http(s)://HOST:PORT")
		}
	}
	prefix := c.Get("prefix")
	if prefix == "" {
		prefix = defaultPrefix
	}
	if !validPrefix(prefix) {
		return badConfig(`the prefix must start and end with "/", be printable ASCII without "//" and at most `, strconv.Itoa(maxPrefix), " bytes")
	}
	user := c.Get("user")
	if user != "" && (!validHeader(user) || len(user) > 128) {
		return badConfig("the user name must be printable ASCII without spaces")
	}
	s.prefix = prefix
	s.g = gateway{http: s.http, timeLeft: s.timeLeft, endpoints: list, user: user}
	return nil
}

func validEndpoint(ep string) bool {
	rest, ok := strings.CutPrefix(ep, "http://")
	if !ok {
		rest, ok = strings.CutPrefix(ep, "https://")
	}
	if !ok || rest == "" || len(ep) > 512 {
		return false
	}
	colon := strings.LastIndexByte(rest, ':')
	if colon <= 0 || colon == len(rest)-1 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if c <= ' ' || c >= 0x7f || c == '/' || c == '?' || c == '#' || c == '@' || c == '\\' {
			return false
		}
	}
	_, err := strconv.ParseUint(rest[colon+1:], 10, 16)
	return err == nil
}

func validPrefix(p string) bool {
	if len(p) < 1 || len(p) > maxPrefix || p[0] != '/' || p[len(p)-1] != '/' || strings.Contains(p, "//") {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 0x21 || p[i] > 0x7e {
			return false
		}
	}
	return true
}

// validName is the rule of organizations, projects and domains (host/scope).
func validName(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || i > 0 && (c == '-' || c == '_')) {
			return false
		}
	}
	return true
}

// validKey is the rule of secret keys and meta names.
func validKey(s string) bool {
	if len(s) == 0 || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func validScope(sc abi.Scope, key string) bool {
	return validName(sc.Org) && validKey(key) &&
		(sc.Project == "" || validName(sc.Project)) && (sc.Domain == "" || validName(sc.Domain))
}

// recordKey is the etcd key of a record.
func (s *Store) recordKey(sc abi.Scope, key string) ([]byte, error) {
	if !validScope(sc, key) {
		return nil, abi.Errorf(abi.InvalidArgument, "invalid scope or key")
	}
	k := make([]byte, 0, len(s.prefix)+2+len(sc.Org)+len(sc.Project)+len(sc.Domain)+len(key)+3)
	k = append(append(k, s.prefix...), "s/"...)
	k = append(append(k, sc.Org...), sep)
	k = append(append(k, sc.Project...), sep)
	k = append(append(k, sc.Domain...), sep)
	return append(k, key...), nil
}

// parseRecordKey is recordKey's inverse for the part after P "s/".
func parseRecordKey(rest []byte) (abi.Scope, string, bool) {
	parts := strings.Split(string(rest), string(rune(sep)))
	if len(parts) != 4 {
		return abi.Scope{}, "", false
	}
	sc := abi.Scope{Org: parts[0], Project: parts[1], Domain: parts[2]}
	return sc, parts[3], validScope(sc, parts[3])
}

func (s *Store) metaKey(name string) ([]byte, error) {
	if !validKey(name) {
		return nil, abi.Errorf(abi.InvalidArgument, "invalid meta name")
	}
	return append([]byte(s.prefix+"m/"), name...), nil
}

func encodeRecord(r *abi.Record) []byte {
	var e abi.Encoder
	r.MarshalTo(&e)
	b := e.Bytes()
	return append(append(make([]byte, 0, len(magic)+len(b)), magic...), b...)
}

// decodeRecord reads a stored value; the error is a damaged record's reason.
func decodeRecord(b []byte, sc abi.Scope, key string) (*abi.Record, error) {
	if !bytes.HasPrefix(b, []byte(magic)) {
		return nil, abi.Errorf(abi.Internal, "not a flyte record")
	}
	r := new(abi.Record)
	if err := abi.Unmarshal(b[len(magic):], r); err != nil {
		return nil, abi.Errorf(abi.Internal, "corrupt record")
	}
	if r.Scope != sc || r.Key != key {
		return nil, abi.Errorf(abi.Internal, "record does not match its location")
	}
	return r, nil
}

// kv is one key-value of a range answer.
type kv struct {
	key, value        []byte
	modRev, createRev int64
	// In a listing read key by key: the value was too large to read, or
	// the key was deleted meanwhile.
	tooLarge, gone bool
}

// kvsOf reads the kvs of a range answer.
func kvsOf(v *jvalue) ([]kv, bool) {
	arr, ok := v.get("kvs").array()
	if !ok {
		return nil, false
	}
	out := make([]kv, 0, len(arr))
	for i := range arr {
		e := &arr[i]
		if e.kind != jObj {
			return nil, false
		}
		var k kv
		var ok1, ok2, ok3, ok4 bool
		k.key, ok1 = e.get("key").bytes()
		k.value, ok2 = e.get("value").bytes()
		k.modRev, ok3 = e.get("mod_revision").int64()
		k.createRev, ok4 = e.get("create_revision").int64()
		if !ok1 || !ok2 || !ok3 || !ok4 || len(k.key) == 0 {
			return nil, false
		}
		out = append(out, k)
	}
	return out, true
}

func malformed() error {
	return abi.Errorf(abi.Unavailable, "etcd store: the gateway's answer is not what etcd 3.4 sends")
}

// malformedWrite is the error of a write whose answer could not be read:
// it may have been applied.
func (s *Store) malformedWrite() error {
	return abi.Errorf(abi.Unavailable, "etcd store: the gateway's answer is not what etcd 3.4 sends; ", unknownOutcome)
}

// rangeBody is a range request of key (and up to end when end is set).
func rangeBody(key, end []byte, limit int, keysOnly bool) []byte {
	b := appendBytes(append([]byte(nil), `{"key":`...), key)
	if end != nil {
		b = appendBytes(append(b, `,"range_end":`...), end)
	}
	if limit > 0 {
		b = appendInt(append(b, `,"limit":`...), int64(limit))
	}
	if keysOnly {
		b = append(b, `,"keys_only":true`...)
	}
	return append(b, '}')
}

// get reads one key: nil when absent.
func (s *Store) get(key []byte) (*kv, error) {
	v, err := s.g.post("/v3/kv/range", rangeBody(key, nil, 0, false), false, rangeBytes)
	if err != nil {
		return nil, err
	}
	kvs, ok := kvsOf(v)
	if !ok || len(kvs) > 1 || len(kvs) == 1 && !bytes.Equal(kvs[0].key, key) {
		return nil, malformed()
	}
	if len(kvs) == 0 {
		return nil, nil
	}
	return &kvs[0], nil
}

// compare is one condition of a txn.
type compare struct {
	key    []byte
	target string // CREATE, MOD or VALUE
	rev    int64
	value  []byte
}

func appendCompare(b []byte, c compare) []byte {
	b = appendBytes(append(b, `{"key":`...), c.key)
	b = append(append(append(b, `,"result":"EQUAL","target":"`...), c.target...), '"')
	switch c.target {
	case "CREATE":
		b = appendInt(append(b, `,"create_revision":`...), c.rev)
	case "MOD":
		b = appendInt(append(b, `,"mod_revision":`...), c.rev)
	default:
		b = appendBytes(append(b, `,"value":`...), c.value)
	}
	return append(b, '}')
}

// txnResult is the answer of a txn: whether it succeeded, and on failure
// what its ranges read (one per key, in order; nil for an absent key).
type txnResult struct {
	ok    bool
	reads []*kv
}

// txn runs: if every compare holds, the write (a put of value to key, or
// with value nil a delete of key); else a read of each key of reads.
func (s *Store) txn(cmps []compare, key, value []byte, reads [][]byte) (*txnResult, error) {
	b := append([]byte(nil), `{"compare":[`...)
	for i, c := range cmps {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendCompare(b, c)
	}
	b = append(b, `],"success":[{"request_`...)
	if value != nil {
		b = appendBytes(append(b, `put":{"key":`...), key)
		b = appendBytes(append(b, `,"value":`...), value)
	} else {
		b = appendBytes(append(b, `delete_range":{"key":`...), key)
	}
	b = append(b, `}}],"failure":[`...)
	for i, r := range reads {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(append(b, `{"request_range":`...), rangeBody(r, nil, 0, false)...)
		b = append(b, '}')
	}
	b = append(b, "]}"...)
	v, err := s.g.post("/v3/kv/txn", b, true, rangeBytes)
	if err != nil {
		return nil, err
	}
	res := new(txnResult)
	var ok bool
	if res.ok, ok = v.get("succeeded").boolean(); !ok {
		return nil, s.malformedWrite()
	}
	if res.ok {
		return res, nil
	}
	resps, ok := v.get("responses").array()
	if !ok || len(resps) != len(reads) {
		return nil, s.malformedWrite()
	}
	for i := range resps {
		rr := resps[i].get("response_range")
		if rr == nil || rr.kind != jObj {
			return nil, s.malformedWrite()
		}
		kvs, ok := kvsOf(rr)
		if !ok || len(kvs) > 1 || len(kvs) == 1 && !bytes.Equal(kvs[0].key, reads[i]) {
			return nil, s.malformedWrite()
		}
		var r *kv
		if len(kvs) == 1 {
			r = &kvs[0]
		}
		res.reads = append(res.reads, r)
	}
	return res, nil
}

// guarded adds g's compare to cmps and its key to reads.
func (s *Store) guarded(cmps []compare, reads [][]byte, g *abi.Guard) ([]compare, [][]byte, error) {
	if g == nil {
		return cmps, reads, nil
	}
	mk, err := s.metaKey(g.Name)
	if err != nil {
		return nil, nil, err
	}
	// A VALUE compare on an absent key fails in etcd: an absent guard
	// is a conflict, as the ABI says.
	return append(cmps, compare{key: mk, target: "VALUE", value: g.Value}), append(reads, mk), nil
}

func guardConflict(g *abi.Guard) error {
	return abi.Errorf(abi.Conflict, "store value ", g.Name, " changed (the write was fenced by it)")
}

func versionConflict(expected, now uint64) error {
	return abi.Errorf(abi.Conflict, "secret was changed since version ", strconv.FormatUint(expected, 10), " (now version ", strconv.FormatUint(now, 10), ")")
}

// Create implements guest.Store.
func (s *Store) Create(r *abi.Record) (*abi.Record, error) { return s.create(r, nil) }

// CreateIf implements guest.Fenced.
func (s *Store) CreateIf(r *abi.Record, g abi.Guard) (*abi.Record, error) { return s.create(r, &g) }

func (s *Store) create(r *abi.Record, g *abi.Guard) (*abi.Record, error) {
	if err := s.load(); err != nil {
		return nil, err
	}
	k, err := s.recordKey(r.Scope, r.Key)
	if err != nil {
		return nil, err
	}
	rec := *r
	rec.Version = 1
	val := encodeRecord(&rec)
	cmps, reads, err := s.guarded([]compare{{key: k, target: "CREATE"}}, [][]byte{k}, g)
	if err != nil {
		return nil, err
	}
	res, err := s.txn(cmps, k, val, reads)
	switch {
	case err != nil:
		return nil, err
	case res.ok:
		return &rec, nil
	case res.reads[0] != nil && bytes.Equal(res.reads[0].value, val):
		// Our own write, applied by an attempt whose answer was lost.
		return &rec, nil
	case s.g.maybe:
		// An earlier attempt of this call may have been applied and
		// the record (or the guard) changed since: unknown, not a refusal.
		return nil, s.g.unavailable()
	case res.reads[0] != nil:
		return nil, abi.Errorf(abi.AlreadyExists, "secret already exists")
	}
	return nil, guardConflict(g)
}

// Update implements guest.Store.
func (s *Store) Update(r *abi.Record, expected uint64) (*abi.Record, error) {
	return s.update(r, expected, nil)
}

// UpdateIf implements guest.Fenced.
func (s *Store) UpdateIf(r *abi.Record, expected uint64, g abi.Guard) (*abi.Record, error) {
	return s.update(r, expected, &g)
}

func (s *Store) update(r *abi.Record, expected uint64, g *abi.Guard) (*abi.Record, error) {
	if err := s.load(); err != nil {
		return nil, err
	}
	k, err := s.recordKey(r.Scope, r.Key)
	if err != nil {
		return nil, err
	}
	cur, err := s.get(k)
	if err != nil {
		return nil, err
	}
	var ours [][]byte // every value this call sent
	for try := 0; ; try++ {
		if cur == nil {
			if s.g.maybe {
				return nil, s.g.unavailable()
			}
			return nil, abi.Errorf(abi.NotFound, "secret not found")
		}
		for _, o := range ours {
			if bytes.Equal(cur.value, o) {
				rec := new(abi.Record)
				_ = abi.Unmarshal(o[len(magic):], rec)
				return rec, nil
			}
		}
		old, err := decodeRecord(cur.value, r.Scope, r.Key)
		if err != nil {
			return nil, abi.Errorf(abi.Internal, "stored secret is damaged: ", err.Error())
		}
		if expected != 0 && old.Version != expected {
			if s.g.maybe {
				// An earlier attempt may have been applied and then
				// overwritten by another writer: unknown, not a conflict.
				return nil, s.g.unavailable()
			}
			return nil, versionConflict(expected, old.Version)
		}
		if try == maxUpdateTries {
			if s.g.maybe {
				return nil, s.g.unavailable()
			}
			return nil, abi.Errorf(abi.Conflict, "secret kept changing while it was updated; try again")
		}
		rec := *r
		rec.Version = old.Version + 1
		rec.Created = old.Created
		val := encodeRecord(&rec)
		ours = append(ours, val)
		cmps, reads, err := s.guarded([]compare{{key: k, target: "MOD", rev: cur.modRev}}, [][]byte{k}, g)
		if err != nil {
			return nil, err
		}
		res, err := s.txn(cmps, k, val, reads)
		if err != nil {
			return nil, err
		}
		if res.ok {
			return &rec, nil
		}
		if cur = res.reads[0]; cur != nil && bytes.Equal(cur.value, val) {
			return &rec, nil
		}
		if g != nil && (res.reads[1] == nil || !bytes.Equal(res.reads[1].value, g.Value)) {
			if s.g.maybe {
				return nil, s.g.unavailable()
			}
			return nil, guardConflict(g)
		}
	}
}

// Get implements guest.Store.
func (s *Store) Get(sc abi.Scope, key string) (*abi.Record, error) {
	if err := s.load(); err != nil {
		return nil, err
	}
	k, err := s.recordKey(sc, key)
	if err != nil {
		return nil, err
	}
	cur, err := s.get(k)
	if err != nil {
		return nil, err
	}
	if cur == nil {
		return nil, abi.Errorf(abi.NotFound, "secret not found")
	}
	return decodeRecord(cur.value, sc, key)
}

// Delete implements guest.Store.
func (s *Store) Delete(sc abi.Scope, key string, expected uint64) error {
	if err := s.load(); err != nil {
		return err
	}
	k, err := s.recordKey(sc, key)
	if err != nil {
		return err
	}
	cur, err := s.get(k)
	if err != nil {
		return err
	}
	for try := 0; ; try++ {
		if cur == nil {
			if try > 0 && s.g.maybe {
				// Gone: our own delete, applied by an attempt whose
				// answer was lost, or another's.
				return nil
			}
			return abi.Errorf(abi.NotFound, "secret not found")
		}
		if expected != 0 {
			old, err := decodeRecord(cur.value, sc, key)
			if err != nil {
				return abi.Errorf(abi.Internal, "stored secret is damaged: ", err.Error())
			}
			if old.Version != expected {
				return versionConflict(expected, old.Version)
			}
		}
		if try == maxUpdateTries {
			return abi.Errorf(abi.Conflict, "secret kept changing while it was deleted; try again")
		}
		res, err := s.txn([]compare{{key: k, target: "MOD", rev: cur.modRev}}, k, nil, [][]byte{k})
		if err != nil {
			return err
		}
		if res.ok {
			return nil
		}
		cur = res.reads[0]
	}
}

// MetaGet implements guest.Store.
func (s *Store) MetaGet(name string) ([]byte, error) {
	if err := s.load(); err != nil {
		return nil, err
	}
	k, err := s.metaKey(name)
	if err != nil {
		return nil, err
	}
	cur, err := s.get(k)
	if err != nil {
		return nil, err
	}
	if cur == nil {
		return nil, abi.Errorf(abi.NotFound, "store value not found")
	}
	return cur.value, nil
}

// MetaPut implements guest.Store.
func (s *Store) MetaPut(name string, value []byte, createOnly bool) ([]byte, error) {
	if err := s.load(); err != nil {
		return nil, err
	}
	k, err := s.metaKey(name)
	if err != nil {
		return nil, err
	}
	if value == nil {
		value = []byte{}
	}
	if !createOnly {
		b := appendBytes(append([]byte(nil), `{"key":`...), k)
		b = append(appendBytes(append(b, `,"value":`...), value), '}')
		if _, err := s.g.post("/v3/kv/put", b, true, 64<<10); err != nil {
			return nil, err
		}
		return value, nil
	}
	res, err := s.txn([]compare{{key: k, target: "CREATE"}}, k, value, [][]byte{k})
	switch {
	case err != nil:
		return nil, err
	case res.ok:
		return value, nil
	case res.reads[0] == nil:
		return nil, malformed()
	}
	return res.reads[0].value, nil
}

// MetaSwap implements guest.Fenced.
func (s *Store) MetaSwap(name string, value, expected []byte) ([]byte, error) {
	if err := s.load(); err != nil {
		return nil, err
	}
	k, err := s.metaKey(name)
	if err != nil {
		return nil, err
	}
	if value == nil {
		value = []byte{}
	}
	res, err := s.txn([]compare{{key: k, target: "VALUE", value: expected}}, k, value, [][]byte{k})
	switch {
	case err != nil:
		return nil, err
	case res.ok:
		return value, nil
	case res.reads[0] == nil:
		return nil, abi.Errorf(abi.NotFound, "store value not found")
	case bytes.Equal(res.reads[0].value, value) && s.g.maybe:
		// Ours, applied by an attempt whose answer was lost.
		return value, nil
	}
	return nil, abi.Errorf(abi.Conflict, "store value ", name, " is not the expected one")
}

// MetaDelete implements guest.Fenced.
func (s *Store) MetaDelete(name string, expected []byte, hasExpected bool) error {
	if err := s.load(); err != nil {
		return err
	}
	k, err := s.metaKey(name)
	if err != nil {
		return err
	}
	cmp := compare{key: k, target: "VALUE", value: expected}
	if !hasExpected {
		// Any value: the key exists.
		cmp = compare{key: k, target: "CREATE", rev: 0}
	}
	res, err := s.txn([]compare{cmp}, k, nil, [][]byte{k})
	if err != nil {
		return err
	}
	absent := res.reads != nil && res.reads[0] == nil
	switch {
	case !hasExpected && res.ok:
		// create_revision == 0: it was absent; the delete did nothing.
		if s.g.maybe {
			return nil
		}
		return abi.Errorf(abi.NotFound, "store value not found")
	case !hasExpected && !absent:
		// It exists: delete it while it still does.
		return s.deleteExisting(k)
	case res.ok:
		return nil
	case absent && s.g.maybe:
		return nil
	case absent:
		return abi.Errorf(abi.NotFound, "store value not found")
	}
	return abi.Errorf(abi.Conflict, "store value ", name, " is not the expected one")
}

// deleteExisting deletes k, which exists.
func (s *Store) deleteExisting(k []byte) error {
	b := append(appendBytes(append([]byte(nil), `{"key":`...), k), '}')
	v, err := s.g.post("/v3/kv/deleterange", b, true, 64<<10)
	if err != nil {
		return err
	}
	n, ok := v.get("deleted").int64()
	switch {
	case !ok:
		return s.malformedWrite()
	case n == 0 && !s.g.maybe:
		return abi.Errorf(abi.NotFound, "store value not found")
	}
	return nil
}

// Compact implements guest.Compacter: etcd's history before the current
// revision is dropped, physically, for the whole cluster.
func (s *Store) Compact() error {
	if err := s.load(); err != nil {
		return err
	}
	v, err := s.g.post("/v3/kv/range", rangeBody([]byte(s.prefix), nil, 0, true), false, 64<<10)
	if err != nil {
		return err
	}
	rev, ok := v.get("header").get("revision").int64()
	if !ok || rev <= 0 {
		return malformed()
	}
	b := append(appendInt(append([]byte(nil), `{"revision":`...), rev), `,"physical":true}`...)
	_, err = s.g.post("/v3/kv/compaction", b, false, 64<<10)
	var ce *codeError
	if ok := asCode(err, &ce); ok && ce.code == grpcOutOfRange {
		// Already compacted at or after rev: nothing older is left.
		return nil
	}
	return err
}

func asCode(err error, out **codeError) bool {
	ce, ok := err.(*codeError)
	if ok {
		*out = ce
	}
	return ok
}

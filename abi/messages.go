package abi

import "slices"

// Message is implemented by every ABI message.
type Message interface {
	MarshalTo(*Encoder)
	UnmarshalFrom(*Decoder)
}

// Marshal encodes m.
func Marshal(m Message) []byte { return AppendMarshal(nil, m) }

// AppendMarshal appends the encoding of m to b and returns the result.
func AppendMarshal(b []byte, m Message) []byte {
	e := Encoder{buf: b}
	m.MarshalTo(&e)
	return e.buf
}

// Unmarshal decodes b into m, which should be a zero value. Byte slices in
// m alias b.
func Unmarshal(b []byte, m Message) error {
	d := Decoder{b: b}
	m.UnmarshalFrom(&d)
	return d.err
}

// Scope is where a secret lives: an organization and an optional project
// and domain ("" means not narrowed).
type Scope struct {
	Org, Project, Domain string
}

// MarshalTo implements Message.
func (m *Scope) MarshalTo(e *Encoder) {
	e.String(1, m.Org)
	e.String(2, m.Project)
	e.String(3, m.Domain)
}

// UnmarshalFrom implements Message.
func (m *Scope) UnmarshalFrom(d *Decoder) {
	for d.Next() {
		switch d.Field() {
		case 1:
			m.Org = d.String()
		case 2:
			m.Project = d.String()
		case 3:
			m.Domain = d.String()
		}
	}
}

// Record is one secret as a store keeps it. Sealed is opaque to the store:
// the host encrypts values before a store sees them.
type Record struct {
	Scope   Scope
	Key     string
	Kind    SecretKind
	Version uint64 // assigned by the store: 1 on create, +1 on each update
	Created int64  // Unix nanoseconds, stamped by the host
	Updated int64  // Unix nanoseconds, stamped by the host
	Sealed  []byte
}

// MarshalTo implements Message.
func (m *Record) MarshalTo(e *Encoder) {
	e.Message(1, &m.Scope)
	e.String(2, m.Key)
	e.Uint(3, uint64(m.Kind))
	e.Uint(4, m.Version)
	e.Int(5, m.Created)
	e.Int(6, m.Updated)
	e.Blob(7, m.Sealed)
}

// UnmarshalFrom implements Message.
func (m *Record) UnmarshalFrom(d *Decoder) {
	for d.Next() {
		switch d.Field() {
		case 1:
			d.Message(&m.Scope)
		case 2:
			m.Key = d.String()
		case 3:
			m.Kind = SecretKind(d.Uint32())
		case 4:
			m.Version = d.Uint()
		case 5:
			m.Created = d.Int()
		case 6:
			m.Updated = d.Int()
		case 7:
			m.Sealed = d.Blob()
		}
	}
}

// WriteRequest is the input of OpCreate and OpUpdate. For OpUpdate,
// ExpectedVersion 0 means "whatever is there"; any other value is a
// compare-and-set that fails with Conflict when the stored version differs.
// The store keeps Created from the existing record on update. A Guard
// (since 1.3) makes the write conditional on a meta value.
type WriteRequest struct {
	Record          Record
	ExpectedVersion uint64
	Guard           *Guard
}

// MarshalTo implements Message.
func (m *WriteRequest) MarshalTo(e *Encoder) {
	e.Message(1, &m.Record)
	e.Uint(2, m.ExpectedVersion)
	if m.Guard != nil {
		e.Message(3, m.Guard)
	}
}

// UnmarshalFrom implements Message.
func (m *WriteRequest) UnmarshalFrom(d *Decoder) {
	for d.Next() {
		switch d.Field() {
		case 1:
			d.Message(&m.Record)
		case 2:
			m.ExpectedVersion = d.Uint()
		case 3:
			m.Guard = &Guard{}
			d.Message(m.Guard)
		}
	}
}

// Guard fences a write (since 1.3): the store applies it only while the
// meta value Name holds exactly Value, checked atomically with the write,
// and answers Conflict otherwise (also when the meta value is absent). The
// host guards every sealed write with the data key's envelope, so that
// nothing is sealed under a key another process has just retired.
type Guard struct {
	Name  string
	Value []byte
}

// MarshalTo implements Message.
func (m *Guard) MarshalTo(e *Encoder) {
	e.String(1, m.Name)
	e.Blob(2, m.Value)
}

// UnmarshalFrom implements Message.
func (m *Guard) UnmarshalFrom(d *Decoder) {
	for d.Next() {
		switch d.Field() {
		case 1:
			m.Name = d.String()
		case 2:
			m.Value = d.Blob()
		}
	}
}

// KeyRequest names one secret: the input of OpGet and OpDelete.
// ExpectedVersion (delete only) works as in WriteRequest.
type KeyRequest struct {
	Scope           Scope
	Key             string
	ExpectedVersion uint64
}

// MarshalTo implements Message.
func (m *KeyRequest) MarshalTo(e *Encoder) {
	e.Message(1, &m.Scope)
	e.String(2, m.Key)
	e.Uint(3, m.ExpectedVersion)
}

// UnmarshalFrom implements Message.
func (m *KeyRequest) UnmarshalFrom(d *Decoder) {
	for d.Next() {
		switch d.Field() {
		case 1:
			d.Message(&m.Scope)
		case 2:
			m.Key = d.String()
		case 3:
			m.ExpectedVersion = d.Uint()
		}
	}
}

// ListRequest asks for the secrets of one organization. Each Has* flag
// turns on an equality filter on that part of the scope ("" then means
// "not narrowed"); Key, when set, keeps only that key. Results are ordered
// by project, domain, key; PageToken is the NextPageToken of the previous
// page. Limit 0 lets the store choose.
type ListRequest struct {
	Org        string
	Project    string
	HasProject bool
	Domain     string
	HasDomain  bool
	Key        string
	PageToken  string
	Limit      uint32
	// AllOrgs (since 1.3) lists every organization of the store: Org is
	// ignored and the order is (org, project, domain, key). The host sends
	// it only to re-seal a whole store under a new data key.
	AllOrgs bool
}

// MarshalTo implements Message.
func (m *ListRequest) MarshalTo(e *Encoder) {
	e.String(1, m.Org)
	e.String(2, m.Project)
	e.Bool(3, m.HasProject)
	e.String(4, m.Domain)
	e.Bool(5, m.HasDomain)
	e.String(6, m.Key)
	e.String(7, m.PageToken)
	e.Uint(8, uint64(m.Limit))
	e.Bool(9, m.AllOrgs)
}

// UnmarshalFrom implements Message.
func (m *ListRequest) UnmarshalFrom(d *Decoder) {
	for d.Next() {
		switch d.Field() {
		case 1:
			m.Org = d.String()
		case 2:
			m.Project = d.String()
		case 3:
			m.HasProject = d.Bool()
		case 4:
			m.Domain = d.String()
		case 5:
			m.HasDomain = d.Bool()
		case 6:
			m.Key = d.String()
		case 7:
			m.PageToken = d.String()
		case 8:
			m.Limit = d.Uint32()
		case 9:
			m.AllOrgs = d.Bool()
		}
	}
}

// Matches reports whether a record in scope s with key k passes the
// request's filters. Stores may use it; the host applies it again.
func (m *ListRequest) Matches(s Scope, k string) bool {
	return (m.AllOrgs || s.Org == m.Org) &&
		(!m.HasProject || s.Project == m.Project) &&
		(!m.HasDomain || s.Domain == m.Domain) &&
		(m.Key == "" || k == m.Key)
}

// Damaged reports a record a store could not read, so that one bad record
// does not hide the others.
type Damaged struct {
	Scope  Scope
	Key    string
	Reason string
}

// MarshalTo implements Message.
func (m *Damaged) MarshalTo(e *Encoder) {
	e.Message(1, &m.Scope)
	e.String(2, m.Key)
	e.String(3, m.Reason)
}

// UnmarshalFrom implements Message.
func (m *Damaged) UnmarshalFrom(d *Decoder) {
	for d.Next() {
		switch d.Field() {
		case 1:
			d.Message(&m.Scope)
		case 2:
			m.Key = d.String()
		case 3:
			m.Reason = d.String()
		}
	}
}

// ListResponse is one page of OpList.
type ListResponse struct {
	Records       []Record
	Damaged       []Damaged
	NextPageToken string // "" on the last page
	// Encoded are records already in wire form, each a whole field 1 of
	// this message (AppendEncodedRecord), written before Records: a
	// store that keeps records as their wire bytes answers without
	// decoding and encoding each again. Decoding never sets it.
	Encoded []byte
}

// AppendEncodedRecord appends to b the record whose wire bytes are rec as
// an entry of ListResponse.Encoded. rec must be a well-formed Record.
func AppendEncodedRecord(b, rec []byte) []byte {
	var e Encoder
	e.buf = b
	e.Blob(1, rec) // a nested message is a length-delimited field
	return e.buf
}

// MarshalTo implements Message.
func (m *ListResponse) MarshalTo(e *Encoder) {
	// Grown once: a page's records are megabytes, copied again by each
	// append that outgrows the buffer.
	e.buf = slices.Grow(e.buf, len(m.Encoded)+len(m.NextPageToken)+8)
	e.buf = append(e.buf, m.Encoded...)
	for i := range m.Records {
		e.Message(1, &m.Records[i])
	}
	for i := range m.Damaged {
		e.Message(2, &m.Damaged[i])
	}
	e.String(3, m.NextPageToken)
}

// UnmarshalFrom implements Message.
func (m *ListResponse) UnmarshalFrom(d *Decoder) {
	for d.Next() {
		switch d.Field() {
		case 1:
			m.Records = append(m.Records, Record{})
			d.Message(&m.Records[len(m.Records)-1])
		case 2:
			m.Damaged = append(m.Damaged, Damaged{})
			d.Message(&m.Damaged[len(m.Damaged)-1])
		case 3:
			m.NextPageToken = d.String()
		}
	}
}

// MetaRequest reads (OpMetaGet), writes (OpMetaPut) or removes
// (OpMetaDelete, since 1.3) a named store-wide value, such as the wrapped
// data key. With CreateOnly, a put of an existing name stores nothing and
// answers with the existing value. With HasExpected (since 1.3), a put or
// a delete applies only while the stored value is exactly Expected:
// NotFound when there is none, Conflict when it differs.
type MetaRequest struct {
	Name        string
	Value       []byte
	CreateOnly  bool
	Expected    []byte
	HasExpected bool
}

// MarshalTo implements Message.
func (m *MetaRequest) MarshalTo(e *Encoder) {
	e.String(1, m.Name)
	e.Blob(2, m.Value)
	e.Bool(3, m.CreateOnly)
	e.Blob(4, m.Expected)
	e.Bool(5, m.HasExpected)
}

// UnmarshalFrom implements Message.
func (m *MetaRequest) UnmarshalFrom(d *Decoder) {
	for d.Next() {
		switch d.Field() {
		case 1:
			m.Name = d.String()
		case 2:
			m.Value = d.Blob()
		case 3:
			m.CreateOnly = d.Bool()
		case 4:
			m.Expected = d.Blob()
		case 5:
			m.HasExpected = d.Bool()
		}
	}
}

// MetaResponse carries the value stored under a meta name.
type MetaResponse struct {
	Value []byte
}

// MarshalTo implements Message.
func (m *MetaResponse) MarshalTo(e *Encoder) { e.Blob(1, m.Value) }

// UnmarshalFrom implements Message.
func (m *MetaResponse) UnmarshalFrom(d *Decoder) {
	for d.Next() {
		if d.Field() == 1 {
			m.Value = d.Blob()
		}
	}
}

// ErrorMessage is the output of any call that returns a non-OK status.
type ErrorMessage struct {
	Message string
}

// MarshalTo implements Message.
func (m *ErrorMessage) MarshalTo(e *Encoder) { e.String(1, m.Message) }

// UnmarshalFrom implements Message.
func (m *ErrorMessage) UnmarshalFrom(d *Decoder) {
	for d.Next() {
		if d.Field() == 1 {
			m.Message = d.String()
		}
	}
}

// Describe is what a plugin says about itself.
type Describe struct {
	Minor        uint32 // ABI minor version the guest was built against
	Kind         PluginKind
	Name         string
	Version      string
	Summary      string
	Ops          []Op
	Capabilities []string // names of the capabilities it uses (Capabilities), e.g. "fs"
}

// MarshalTo implements Message.
func (m *Describe) MarshalTo(e *Encoder) {
	e.Uint(1, uint64(m.Minor))
	e.Uint(2, uint64(m.Kind))
	e.String(3, m.Name)
	e.String(4, m.Version)
	e.String(5, m.Summary)
	for _, op := range m.Ops {
		e.key(6, wireVarint)
		e.buf = appendUvarint(e.buf, uint64(op))
	}
	for _, c := range m.Capabilities {
		e.key(7, wireBytes)
		e.buf = appendUvarint(e.buf, uint64(len(c)))
		e.buf = append(e.buf, c...)
	}
}

// UnmarshalFrom implements Message.
func (m *Describe) UnmarshalFrom(d *Decoder) {
	for d.Next() {
		switch d.Field() {
		case 1:
			m.Minor = d.Uint32()
		case 2:
			m.Kind = PluginKind(d.Uint32())
		case 3:
			m.Name = d.String()
		case 4:
			m.Version = d.String()
		case 5:
			m.Summary = d.String()
		case 6:
			m.Ops = append(m.Ops, Op(d.Uint32()))
		case 7:
			m.Capabilities = append(m.Capabilities, d.String())
		}
	}
}

// DirEntry is one name in a directory listing of the fs capability.
type DirEntry struct {
	Name string
	Dir  bool
}

// MarshalTo implements Message.
func (m *DirEntry) MarshalTo(e *Encoder) {
	e.String(1, m.Name)
	e.Bool(2, m.Dir)
}

// UnmarshalFrom implements Message.
func (m *DirEntry) UnmarshalFrom(d *Decoder) {
	for d.Next() {
		switch d.Field() {
		case 1:
			m.Name = d.String()
		case 2:
			m.Dir = d.Bool()
		}
	}
}

// DirList is the result of the fs capability's list call.
type DirList struct {
	Entries []DirEntry
}

// MarshalTo implements Message.
func (m *DirList) MarshalTo(e *Encoder) {
	for i := range m.Entries {
		e.Message(1, &m.Entries[i])
	}
}

// UnmarshalFrom implements Message.
func (m *DirList) UnmarshalFrom(d *Decoder) {
	for d.Next() {
		if d.Field() == 1 {
			m.Entries = append(m.Entries, DirEntry{})
			d.Message(&m.Entries[len(m.Entries)-1])
		}
	}
}

// KeyValue is one entry of a plugin's configuration.
type KeyValue struct {
	Key, Value string
}

// MarshalTo implements Message.
func (m *KeyValue) MarshalTo(e *Encoder) {
	e.String(1, m.Key)
	e.String(2, m.Value)
}

// UnmarshalFrom implements Message.
func (m *KeyValue) UnmarshalFrom(d *Decoder) {
	for d.Next() {
		switch d.Field() {
		case 1:
			m.Key = d.String()
		case 2:
			m.Value = d.String()
		}
	}
}

// PluginConfig is what config_read returns: the plugin's [plugins.NAME]
// config table from flyte.toml, sorted by key. It never holds secrets.
type PluginConfig struct {
	Entries []KeyValue
}

// MarshalTo implements Message.
func (m *PluginConfig) MarshalTo(e *Encoder) {
	for i := range m.Entries {
		e.Message(1, &m.Entries[i])
	}
}

// UnmarshalFrom implements Message.
func (m *PluginConfig) UnmarshalFrom(d *Decoder) {
	for d.Next() {
		if d.Field() == 1 {
			m.Entries = append(m.Entries, KeyValue{})
			d.Message(&m.Entries[len(m.Entries)-1])
		}
	}
}

// Get returns the value for key, or "".
func (m *PluginConfig) Get(key string) string {
	for _, kv := range m.Entries {
		if kv.Key == key {
			return kv.Value
		}
	}
	return ""
}

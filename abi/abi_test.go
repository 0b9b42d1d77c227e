package abi

import (
	"bytes"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	long := strings.Repeat("x", 300) // forces a multi-byte nested length
	msgs := []struct {
		in, out Message
	}{
		{&Record{Scope: Scope{"acme", "p", "d"}, Key: "K", Kind: SecretFile, Version: 7, Created: -5, Updated: 1 << 62, Sealed: []byte(long)}, &Record{}},
		{&WriteRequest{Record: Record{Key: long}, ExpectedVersion: 3}, &WriteRequest{}},
		{&KeyRequest{Scope: Scope{Org: "o"}, Key: "k", ExpectedVersion: 1}, &KeyRequest{}},
		{&ListRequest{Org: "o", HasProject: true, Domain: "d", HasDomain: true, Key: "k", PageToken: "t", Limit: 9}, &ListRequest{}},
		{&ListResponse{Records: []Record{{Key: "a"}, {Key: long}}, Damaged: []Damaged{{Key: "b", Reason: "r"}}, NextPageToken: "n"}, &ListResponse{}},
		{&MetaRequest{Name: "n", Value: []byte{0, 1}, CreateOnly: true}, &MetaRequest{}},
		{&MetaRequest{Name: "n", Value: []byte{2}, Expected: []byte{0, 1}, HasExpected: true}, &MetaRequest{}},
		{&ListRequest{Org: "o", AllOrgs: true, Limit: 3}, &ListRequest{}},
		{&WriteRequest{Record: Record{Key: "k"}, Guard: &Guard{Name: "datakey", Value: []byte{9}}}, &WriteRequest{}},
		{&Describe{Minor: 1, Kind: KindInjector, Name: "n", Version: "v", Summary: "s", Ops: []Op{OpCreate, OpPlan}, Capabilities: []string{"fs"}}, &Describe{}},
		{&DirList{Entries: []DirEntry{{Name: "a", Dir: true}, {Name: "b"}}}, &DirList{}},
		{&PluginConfig{Entries: []KeyValue{{"a", "1"}, {"b", ""}}}, &PluginConfig{}},
	}
	for _, m := range msgs {
		b := Marshal(m.in)
		if err := Unmarshal(b, m.out); err != nil {
			t.Fatalf("%T: %v", m.in, err)
		}
		if !reflect.DeepEqual(m.in, m.out) {
			t.Errorf("%T: got %+v, want %+v", m.in, m.out, m.in)
		}
	}
}

// An older peer must skip fields it does not know; that is how minor
// versions add fields.
func TestUnknownFieldsSkipped(t *testing.T) {
	var e Encoder
	e.String(99, "future")
	e.String(2, "key")
	e.Uint(98, 12345)
	e.Blob(7, []byte("sealed"))
	var r Record
	if err := Unmarshal(e.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if r.Key != "key" || string(r.Sealed) != "sealed" {
		t.Fatalf("got %+v", r)
	}
}

func TestMalformed(t *testing.T) {
	cases := map[string][]byte{
		"truncated key":          {0x80},
		"field zero":             {0x02, 0x00},
		"wire type 1":            {0x09, 1, 2, 3, 4, 5, 6, 7, 8},
		"length past end":        {0x12, 0x05, 'a'},
		"truncated varint":       {0x08, 0xff},
		"varint over 64 bits":    {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02},
		"string as varint":       {0x10, 0x01},
		"uint32 overflow":        {0x18, 0x80, 0x80, 0x80, 0x80, 0x10},
		"bad nested message":     {0x0a, 0x02, 0x0a, 0x05},
		"huge length":            {0x12, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"varint for bytes field": {0x38, 0x01},
	}
	for name, b := range cases {
		var r Record
		if err := Unmarshal(b, &r); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
}

func TestZeroValuesOmitted(t *testing.T) {
	if b := Marshal(&Record{}); len(b) != 2 || !bytes.Equal(b, []byte{0x0a, 0x00}) {
		// Only the always-written nested scope remains.
		t.Fatalf("empty record encodes as %x", b)
	}
}

func TestStatus(t *testing.T) {
	if StatusOf(nil) != OK || StatusOf(errors.New("x")) != Internal {
		t.Fatal("StatusOf of nil or plain error")
	}
	wrapped := errors.Join(errors.New("ctx"), Errorf(Conflict, "a", "b"))
	if StatusOf(wrapped) != Internal {
		// errors.Join has Unwrap() []error, which StatusOf does not follow.
		t.Fatal("joined errors are not unwrapped")
	}
	if err := Errorf(Conflict, "a", "b"); err.Error() != "ab" || StatusOf(err) != Conflict {
		t.Fatalf("Errorf: %v", err)
	}
	if Status(42).String() != "status 42" || NotFound.String() != "not found" {
		t.Fatal("Status.String")
	}
}

// allMessages is a zero value of every message of the ABI.
func allMessages() []Message {
	return []Message{&Scope{}, &Record{}, &WriteRequest{}, &KeyRequest{}, &ListRequest{}, &Damaged{}, &ListResponse{},
		&MetaRequest{}, &MetaResponse{}, &ErrorMessage{}, &Describe{}, &DirEntry{}, &DirList{}, &KeyValue{}, &PluginConfig{},
		&Task{}, &SecretRequest{}, &PlanRequest{}, &EnvEntry{}, &FileEntry{}, &Plan{},
		&OutputRequest{}, &RenderRequest{}, &Part{}, &Output{}, &RenderPlan{},
		&HTTPHeader{}, &HTTPRequest{}, &HTTPResponse{}, &Guard{}}
}

// FuzzUnmarshal decodes every message, so a new message must join
// allMessages: this finds each type of the package with an UnmarshalFrom
// method.
func TestFuzzCoversEveryMessage(t *testing.T) {
	fset := token.NewFileSet()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	covered := map[string]bool{}
	for _, m := range allMessages() {
		covered[reflect.TypeOf(m).Elem().Name()] = true
	}
	n := 0
	for _, f := range files {
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Name.Name != "UnmarshalFrom" || fn.Recv == nil {
				continue
			}
			star, ok := fn.Recv.List[0].Type.(*ast.StarExpr)
			if !ok {
				continue
			}
			name := star.X.(*ast.Ident).Name
			n++
			if !covered[name] {
				t.Errorf("FuzzUnmarshal does not decode %s: add it to allMessages", name)
			}
		}
	}
	if n != len(covered) {
		t.Errorf("%d messages found, %d fuzzed", n, len(covered))
	}
}

func FuzzUnmarshal(f *testing.F) {
	f.Add(Marshal(&ListResponse{Records: []Record{{Key: "a", Sealed: []byte("s")}}, Damaged: []Damaged{{Key: "b"}}}))
	f.Add(Marshal(&Describe{Ops: []Op{1, 2}, Capabilities: []string{"fs"}}))
	f.Add([]byte{0x0a, 0x80})
	f.Add(Marshal(&Plan{Env: []EnvEntry{{Name: "A", Ref: 1}}, Files: []FileEntry{{Path: "/etc/flyte/secrets/k", Mode: 0o400, Ref: 2}}}))
	f.Add(Marshal(&RenderPlan{Outputs: []Output{{ID: 1, Parts: []Part{{Text: []byte("a=")}, {Ref: 2, Transforms: []Transform{URLEscape}},
		{Parts: []Part{{Ref: 1}, {Text: []byte(":")}, {Ref: 2}}, Transforms: []Transform{Base64Encode}}}}}}))
	f.Add(Marshal(&RenderRequest{Secrets: []SecretRequest{{Ref: 1, Key: "k"}}, Outputs: []OutputRequest{{ID: 1, File: "app.conf", Refs: []uint32{1}}}}))
	f.Add(Marshal(&HTTPRequest{Method: "PUT", URL: "https://h:1/v3/kv/put", Headers: []HTTPHeader{{Name: "A", Value: []byte("b")}}, Body: []byte("{}"), TimeoutMS: 9}))
	f.Add(Marshal(&PlanRequest{Task: Task{Environment: "e", Org: "o"}, Secrets: []SecretRequest{{Ref: 1, Key: "k", Group: "g", Kind: SecretFile,
		Mount: SecretsDir, Scope: Scope{Org: "o", Project: "p"}, Size: 9}}}))
	f.Add(Marshal(&Record{Scope: Scope{"o", "p", "d"}, Key: "k", Kind: SecretImagePull, Version: 3, Created: -1, Updated: 1 << 40, Sealed: []byte{0}}))
	f.Add(Marshal(&WriteRequest{Record: Record{Key: "k", Sealed: []byte{1}}, ExpectedVersion: 2, Guard: &Guard{Name: "datakey", Value: []byte("env")}}))
	f.Add(Marshal(&MetaRequest{Name: "datakey", Value: []byte("new"), Expected: []byte("old"), HasExpected: true}))
	f.Add(Marshal(&PluginConfig{Entries: []KeyValue{{"template", "{{secret \"k\"}}"}}}))
	f.Add(Marshal(&HTTPResponse{Status: 200, Headers: []HTTPHeader{{Name: "A", Value: []byte("b")}}, Body: []byte("{}"), URL: "https://h:1/", TimeLeftMS: 5}))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Every message either side decodes (TestFuzzCoversEveryMessage).
		for _, m := range allMessages() {
			if err := Unmarshal(b, m); err != nil {
				continue
			}
			// What decodes must re-encode and decode to the same value;
			// the encoding is canonical (empty and absent are one), so
			// the same value is the same bytes.
			enc := Marshal(m)
			again := reflect.New(reflect.TypeOf(m).Elem()).Interface().(Message)
			if err := Unmarshal(enc, again); err != nil {
				t.Fatalf("%T: re-decode: %v", m, err)
			}
			if !bytes.Equal(Marshal(again), enc) {
				t.Fatalf("%T: round trip changed the value", m)
			}
		}
	})
}

// A hostile peer cannot nest messages deeper than MaxDepth: the decoder
// refuses the input instead of recursing once per two bytes of it.
func TestDecoderDepth(t *testing.T) {
	nest := func(depth int) []byte {
		p := Part{Text: []byte("x")}
		for i := 0; i < depth; i++ {
			p = Part{Parts: []Part{p}}
		}
		return Marshal(&RenderPlan{Outputs: []Output{{ID: 1, Parts: []Part{p}}}})
	}
	// RenderPlan > Output > Part is depth 2, so MaxDepth-2 more levels fit.
	if err := Unmarshal(nest(MaxDepth-2), &RenderPlan{}); err != nil {
		t.Fatalf("depth %d: %v", MaxDepth, err)
	}
	if err := Unmarshal(nest(MaxDepth-1), &RenderPlan{}); err != ErrMalformed {
		t.Fatalf("depth over MaxDepth: err = %v, want ErrMalformed", err)
	}
	deep := []byte{}
	for i := 0; i < 100000; i++ {
		deep = append([]byte{0x1a, byte(len(deep))}, deep...)
		if len(deep) > 120 {
			break
		}
	}
	if err := Unmarshal(deep, &Part{}); err == nil {
		t.Fatal("deeply nested input decoded")
	}
}

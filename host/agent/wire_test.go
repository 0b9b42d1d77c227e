package agent

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"runtime"
	"testing"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/config"
	"github.com/flytesecrets/flyte/host/core"
	"github.com/flytesecrets/flyte/host/scope"
	"github.com/flytesecrets/flyte/host/seal"
	"github.com/flytesecrets/flyte/host/secrets"
)

func TestFrames(t *testing.T) {
	var b bytes.Buffer
	if err := send(&b, hello{Version: Version, Build: "A"}); err != nil {
		t.Fatal(err)
	}
	var h hello
	if err := receive(&b, 64, &h); err != nil || h.Build != "A" || h.Version != Version {
		t.Fatalf("%+v %v", h, err)
	}
	// A frame over the limit is refused before it is read.
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], 65)
	if _, err := readFrame(io.MultiReader(bytes.NewReader(n[:]), neverRead{t}), 64); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("large frame: %v", err)
	}
	if err := writeFrame(io.Discard, make([]byte, MaxFrame+1)); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("writing a large frame: %v", err)
	}
	// A frame cut short is an error, not a short frame.
	binary.BigEndian.PutUint32(n[:], 10)
	if _, err := readFrame(bytes.NewReader(append(n[:], "12345"...)), 64); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short frame: %v", err)
	}
	if err := receive(bytes.NewReader(append(n[:2:2], 0, 1, '{')), 64, &h); err == nil {
		t.Fatal("malformed JSON accepted")
	}
}

type neverRead struct{ t *testing.T }

func (r neverRead) Read([]byte) (int, error) {
	r.t.Error("the body of a frame over the limit was read")
	return 0, io.EOF
}

// Each error the CLI inspects arrives with its message, its hint and its
// fields, so that the client prints what an in-process command prints.
func TestErrorsTravel(t *testing.T) {
	s := scope.Scope{Org: "o", Project: "p"}
	you := seal.PublicKey{1, 2, 3}
	cases := []error{
		&secrets.ExistsError{Key: "K", Scope: s},
		&secrets.NotFoundError{Key: "K", Scope: s, ExistsIn: []scope.Scope{{Org: "o"}}},
		&secrets.MissingError{Keys: []string{"A", "B"}, Project: "p", Tried: []scope.Scope{s, {Org: "o"}}},
		&secrets.ConflictError{Key: "K", Scope: s, Want: 2, Have: 3},
		&secrets.KindChangeError{Key: "K", Scope: s, Have: abi.SecretFile, Want: abi.SecretString},
		&secrets.KindUnsupportedError{Kind: abi.SecretImagePull, Minor: 0},
		&secrets.NotRecipientError{You: you, Labels: []string{"alice", "bob"}},
		&secrets.FenceError{Minor: 2},
		&secrets.LockedError{Identity: "/id", Err: &secrets.NotRecipientError{You: you, Labels: []string{"x"}}},
		&secrets.LockedError{Identity: "/id", Err: errors.New("bad"), Missing: true},
		errors.New("plain"),
		&scope.InvalidError{What: "secret key", Where: "argument KEY", Reason: "is empty"},
		secrets.ErrUnfinished,
	}
	for _, want := range cases {
		wire, err := json.Marshal(encodeError(want))
		if err != nil {
			t.Fatal(err)
		}
		var e Error
		if err := json.Unmarshal(wire, &e); err != nil {
			t.Fatal(err)
		}
		got := e.decode()
		if got.Error() != want.Error() {
			t.Errorf("message %q, want %q", got, want)
		}
		var wh, gh interface{ Hint() string }
		if errors.As(want, &wh) != errors.As(got, &gh) || (wh != nil && wh.Hint() != gh.Hint()) {
			t.Errorf("%v: hint %v, want %v", want, gh, wh)
		}
		var re *RemoteError
		if !errors.As(got, &re) {
			t.Fatalf("%v: not a RemoteError", got)
		}
		var ie *scope.InvalidError
		if re.Usage != errors.As(want, &ie) {
			t.Errorf("%v: usage %v", want, re.Usage)
		}
		// The typed error, found as the CLI finds it, has the fields sent.
		wt := reflect.TypeOf(want)
		if _, known := func() (string, bool) {
			for name, k := range kinds {
				if wt.Kind() == reflect.Pointer && wt.Elem() == k {
					return name, true
				}
			}
			return "", false
		}(); known {
			p := reflect.New(wt)
			if !errors.As(got, p.Interface()) {
				t.Fatalf("%v: errors.As finds no %v", want, wt)
			}
			typed := p.Elem().Interface().(error)
			if typed.Error() != want.Error() {
				t.Errorf("typed %q, want %q", typed, want)
			}
		}
	}
	// A lock failed for a reason the CLI looks for finds it inside.
	e := encodeError(&secrets.LockedError{Identity: "/id", Err: &secrets.NotRecipientError{You: you}}).decode()
	var nr *secrets.NotRecipientError
	if !errors.As(e, &nr) || nr.You != you {
		t.Fatalf("the cause of a LockedError is lost: %v", e)
	}
}

// FuzzReply feeds the client's parser what a hostile or broken peer may
// send: it must not panic, nor accept a frame over its limit.
func FuzzReply(f *testing.F) {
	frames := func(last reply, body string) []byte {
		var b bytes.Buffer
		_ = send(&b, reply{Stderr: []byte("compiling")})
		_ = sendReply(&b, last, []byte(body))
		return b.Bytes()
	}
	list, _ := secrets.ListResult{Secrets: []secrets.Secret{{Key: "A"}}}.MarshalJSON()
	f.Add(frames(reply{Done: true}, string(list)))
	f.Add(frames(reply{Done: true}, `{"Damaged":[{"Key":"K"}]}`))
	f.Add(frames(reply{Done: true, Err: encodeError(&secrets.LockedError{Identity: "i", Err: errors.New("x")})}, ""))
	f.Add(frames(reply{Done: true, Err: &Error{Msg: "m", Kind: "locked", Fields: json.RawMessage(`{"Err":1}`),
		Cause: &Error{Kind: "locked", Cause: &Error{Kind: "locked"}}}}, `{}`))
	f.Add(frames(reply{Done: true, Body: json.RawMessage(`{"Version":1,"Build":"b"}`)}, ""))
	f.Add([]byte{0, 0, 0, 2, '{', '}'})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, resp := range []any{nil, &secrets.ListResult{}, &Status{}} {
			_, err := readAnswer(bytes.NewReader(b), resp, io.Discard)
			if err == nil {
				continue
			}
			_ = err.Error()
			var h interface{ Hint() string }
			if errors.As(err, &h) {
				_ = h.Hint()
			}
			var l *secrets.LockedError
			if errors.As(err, &l) {
				_ = l.Error()
			}
		}
	})
}

// FuzzRequest feeds the agent's parser what a client may send: the hello,
// the request with its configuration, and each operation's body.
func FuzzRequest(f *testing.F) {
	frame := func(v any) []byte {
		var b bytes.Buffer
		_ = send(&b, v)
		return b.Bytes()
	}
	body, _ := json.Marshal(core.WriteRequest{Key: "K", Value: []byte("v")})
	f.Add(frame(request{Op: OpWrite, Setup: &Setup{Config: &config.Config{Organization: "o"}, Identity: Identity{Variable: "FLYTE_IDENTITY", Key: "k"}}, Body: body}))
	f.Add(frame(request{Op: OpList, Body: json.RawMessage(`{"Project":"p","Resolve":true}`)}))
	f.Add(frame(hello{Version: Version, Build: "b"}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var h hello
		_ = receive(bytes.NewReader(b), 4<<10, &h)
		var r request
		if err := receive(bytes.NewReader(b), 1<<16, &r); err != nil {
			return
		}
		for _, v := range []any{&core.WriteRequest{}, &core.DeleteRequest{}, &core.ListRequest{}, &core.NamesRequest{}, &core.TaskRequest{}} {
			_ = json.Unmarshal(r.Body, v)
		}
		if r.Setup != nil && r.Setup.Config != nil {
			_, _ = setupKey(r.Setup)
			_ = r.Setup.Identity.source(r.Setup.Config.Seal.Identity)
		}
	})
}

// The client's terminal width, like its identity, travels with each
// request but does not choose the core: one configuration, one core.
func TestSetupKeyIgnoresTerminal(t *testing.T) {
	cfg := &config.Config{Organization: "acme"}
	a, err := setupKey(&Setup{Config: cfg, CacheDir: "/c"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := setupKey(&Setup{Config: cfg, CacheDir: "/c", Terminal: 120, Identity: Identity{Variable: "FLYTE_IDENTITY_KEY", Key: "k"}})
	if err != nil || a != b {
		t.Fatalf("keys %s and %s (%v): the terminal or identity changed the core", a, b, err)
	}
	if c, _ := setupKey(&Setup{Config: cfg, CacheDir: "/d"}); c == a {
		t.Fatal("another cache directory, the same core")
	}
}

// A frame larger than a read chunk arrives whole; a header that promises
// a large frame and sends nothing buys no more than a chunk of memory.
func TestFrameChunks(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 3*readChunk/16+5)
	var b bytes.Buffer
	if err := writeFrame(&b, big); err != nil {
		t.Fatal(err)
	}
	got, err := readFrame(&b, MaxFrame)
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("%d bytes, %v", len(got), err)
	}
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], MaxFrame)
	allocs := testing.AllocsPerRun(1, func() {
		_, _ = readFrame(bytes.NewReader(n[:]), MaxFrame)
	})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = readFrame(bytes.NewReader(n[:]), MaxFrame)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) || after.TotalAlloc-before.TotalAlloc > 2*readChunk || allocs > 10 {
		t.Fatalf("an empty %d-byte frame: %v, %d bytes allocated", MaxFrame, err, after.TotalAlloc-before.TotalAlloc)
	}
}

// A reply reads back as it was sent, its body in a frame of its own: the
// agent's bytes as they are, into a type that decodes its own JSON.
func TestSendReply(t *testing.T) {
	list, err := secrets.ListResult{Secrets: []secrets.Secret{{Key: "A", Version: 2}}}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		r    reply
		body string
	}{
		{reply{Done: true}, string(list)},
		{reply{Done: true, Created: "/x"}, `{"Damaged":[{"Key":"K","Reason":"r"}]}`},
		{reply{Done: true, Err: &Error{Msg: "m"}}, `{}`},
		{reply{Done: true, Created: "/y"}, ""},
	} {
		var b bytes.Buffer
		if err := send(&b, reply{Stderr: []byte("line\n")}); err != nil {
			t.Fatal(err)
		}
		if err := sendReply(&b, c.r, []byte(c.body)); err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		var got secrets.ListResult
		created, err := readAnswer(&b, &got, &stderr)
		if b.Len() != 0 {
			t.Errorf("%+v: %d bytes left unread", c.r, b.Len())
		}
		if c.r.Err != nil {
			if err == nil || err.Error() != c.r.Err.Msg {
				t.Errorf("%+v: got error %v", c.r, err)
			}
			continue
		}
		if err != nil || created != c.r.Created || stderr.String() != "line\n" {
			t.Fatalf("%+v: %q, %q, %v", c.r, created, stderr.String(), err)
		}
		var want secrets.ListResult
		if c.body != "" {
			if err := json.Unmarshal([]byte(c.body), &want); err != nil {
				t.Fatal(err)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("sent %s, got %+v", c.body, got)
		}
	}
	// A body over the frame limit writes nothing: the agent then says so.
	var b bytes.Buffer
	if err := sendReply(&b, reply{Done: true}, make([]byte, MaxFrame+1)); !errors.Is(err, ErrFrameTooLarge) || b.Len() != 0 {
		t.Fatalf("%v, %d bytes written", err, b.Len())
	}
}

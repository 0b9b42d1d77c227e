// Package agent is flyte's resident agent, in the manner of gpg-agent: one
// process per user and runtime directory that keeps the plugins compiled
// and their instances warm between commands, and serves the core's
// requests (package core) over a unix socket.
//
// The client makes every trust decision before it sends a request: it reads
// flyte.toml with the trust rules, resolves the identity source and the
// protected paths, and sends that resolved configuration (Setup) with each
// request. The agent never reads flyte.toml; it serves each request under
// the configuration it came with, on a core kept per configuration.
//
// The protocol is a sequence of frames: a 4-byte big-endian length, then
// that many bytes of JSON, at most MaxFrame. A connection carries one
// exchange: the client's hello and the agent's welcome (protocol version
// and build id: a client never uses an agent of another build), then one
// request, then the agent's answer (its body, if any, in a frame of its
// own), preceded by any number of frames of standard error (compile
// progress, plugin logs) for the client to print.
package agent

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/flytesecrets/flyte/host/config"
	"github.com/flytesecrets/flyte/host/grant"
)

// Version is the protocol's version, sent in the hello and the welcome.
const Version = 1

// MaxFrame bounds one frame: a listing of 100,000 secrets is about 20 MB
// of JSON.
const MaxFrame = 64 << 20

// The operations a request may name.
const (
	OpStatus = "status" // the agent's state (Status); needs no Setup
	OpStop   = "stop"   // the agent exits once it answered
	OpWrite  = "write"  // core.WriteRequest -> core.Secret
	OpDelete = "delete" // core.DeleteRequest -> nothing
	OpList   = "list"   // core.ListRequest -> core.ListResult
	OpNames  = "names"  // core.NamesRequest -> core.Names
	OpTask   = "task"   // core.TaskRequest -> task.Prepared
)

// hello is the client's first frame.
type hello struct {
	Version int
	Build   string
}

// Status is the agent's welcome, and the answer to OpStatus.
type Status struct {
	Version int
	Build   string
	PID     int
	Started time.Time
	// Served counts the requests of the store served (not status or stop).
	Served uint64
	// Refused counts the connections refused for their peer's uid.
	Refused uint64
	// Cores is how many configurations the agent keeps warm.
	Cores int
}

// request is the client's second frame.
type request struct {
	Op    string
	Setup *Setup          `json:",omitempty"`
	Body  json.RawMessage `json:",omitempty"`
}

// reply is one of the agent's frames after the welcome: standard error
// output (Stderr set, Done false), or the last (Done).
type reply struct {
	Stderr []byte `json:",omitempty"`
	Done   bool   `json:",omitempty"`
	// Body is a small answer within the frame (OpStatus's, which an
	// agent of any build gives); BodyNext says that the answer to a
	// request of the store follows in a frame of its own (sendReply).
	Body     json.RawMessage `json:",omitempty"`
	BodyNext bool            `json:",omitempty"`
	Err      *Error          `json:",omitempty"`
	// Created is the identity file this request created ("" for none):
	// the client tells the user, as after an in-process command.
	Created string `json:",omitempty"`
}

// Setup is the configuration a client resolved for a request: everything
// core.New is given, as plain values.
type Setup struct {
	Config *config.Config
	// CacheDir, StateDir and Protected are core.Options'.
	CacheDir  string
	StateDir  string
	Protected []grant.Protected
	// Debug sends the plugins' log messages to the client's standard error.
	Debug bool
	// Identity is where the identity comes from, resolved by the client.
	Identity Identity
	// Terminal is the width of the client's standard error when it is a
	// terminal (progress.TerminalWidth), else 0: the progress of a request
	// is then drawn as it would be in-process. Not part of the core's key.
	Terminal int `json:",omitempty"`
}

// Identity is an identity source (identity.Resolve) as the client
// resolved it: Variable is "" for the configured file, identity.EnvFile
// with File absolute, or identity.EnvKey with Key the key itself.
// FLYTE_IDENTITY_CMD is never sent: its command needs the client's
// terminal, so such a client works in-process.
type Identity struct {
	Variable string `json:",omitempty"`
	File     string `json:",omitempty"`
	Key      string `json:",omitempty"`
}

// ErrFrameTooLarge is a frame over the limit.
var ErrFrameTooLarge = errors.New("agent protocol: frame larger than the limit")

// writeFrame writes b as one frame.
func writeFrame(w io.Writer, b []byte) error {
	if len(b) > MaxFrame {
		return ErrFrameTooLarge
	}
	buf := make([]byte, 4+len(b))
	binary.BigEndian.PutUint32(buf, uint32(len(b)))
	copy(buf[4:], b)
	_, err := w.Write(buf)
	clear(buf) // it may hold a value
	return err
}

// readFrame reads one frame of at most max bytes.
func readFrame(r io.Reader, max int) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(n[:])
	if uint64(size) > uint64(max) {
		return nil, ErrFrameTooLarge
	}
	// The buffer grows as the bytes arrive, a chunk at a time: a header
	// alone buys no memory. A grown buffer's old copy is wiped (a frame
	// may hold a value).
	b := make([]byte, 0, min(int(size), readChunk))
	for len(b) < int(size) {
		n := min(int(size)-len(b), readChunk)
		if cap(b)-len(b) < n {
			nb := make([]byte, len(b), min(int(size), 2*cap(b)+n))
			copy(nb, b)
			clear(b)
			b = nb
		}
		m, err := io.ReadFull(r, b[len(b):len(b)+n])
		b = b[:len(b)+m]
		if err != nil {
			clear(b)
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return b, nil
}

// readChunk is how much of a frame is read at a time.
const readChunk = 1 << 20

// send writes v as one frame of JSON.
func send(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	err = writeFrame(w, b)
	clear(b)
	return err
}

// sendReply writes r, the answer to a request of the store, and its body:
// a frame of JSON, then, when there is a body, the body in a frame of its
// own (BodyNext), as its bytes. The body is the answer's JSON as the
// agent's marshaller wrote it: within the reply, encoding/json would scan
// all of it on both sides, megabytes for a large listing. Nothing is
// written when the body is over MaxFrame.
func sendReply(w io.Writer, r reply, body []byte) error {
	if len(body) > MaxFrame {
		return ErrFrameTooLarge
	}
	r.BodyNext = len(body) > 0
	if err := send(w, r); err != nil || len(body) == 0 {
		return err
	}
	// Its length, then the body where it lies: no copy of megabytes.
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(body)))
	bufs := net.Buffers{n[:], body}
	_, err := bufs.WriteTo(w)
	return err
}

// receive reads one frame of JSON into v.
func receive(r io.Reader, max int, v any) error {
	b, err := readFrame(r, max)
	if err != nil {
		return err
	}
	err = json.Unmarshal(b, v)
	clear(b)
	if err != nil {
		return fmt.Errorf("agent protocol: malformed frame: %w", err)
	}
	return nil
}

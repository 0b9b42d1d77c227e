package main

// Testscript commands that look at, and tamper with, the filestore's store
// directory in its log layout (format 2, plugins/filestore/logfmt.go): the
// scripts ask the store whether it holds a record rather than peeking at
// paths, and tamper with a record's frame in the log the way someone who
// can write the store could.
//
// A record is named by its location as format 1 named its file:
// ORG/PROJECT/DOMAIN/KEY, with @ for no project or domain.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/fsgrant"
	"github.com/flytesecrets/flyte/plugins/filestore"
	"github.com/rogpeppe/go-internal/testscript"
)

// recordMagic starts a record file of format 1.
const recordMagic = "flyterec1\n"

// The log format, as plugins/filestore/logfmt.go writes it.
const (
	logHeaderSize = 32
	logFrameHead  = 12
	logFrameSync  = 0x5f6c7966
	logOpPut      = 1
	logOpLegacy   = 3
)

// parseLocation reads ORG/PROJECT/DOMAIN/KEY.
func parseLocation(ts *testscript.TestScript, loc string) (abi.Scope, string) {
	parts := strings.Split(loc, "/")
	if len(parts) != 4 {
		ts.Fatalf("%q is not ORG/PROJECT/DOMAIN/KEY", loc)
	}
	none := func(s string) string {
		if s == "@" {
			return ""
		}
		return s
	}
	return abi.Scope{Org: parts[0], Project: none(parts[1]), Domain: none(parts[2])}, parts[3]
}

// cmdStorehas asks the filestore on DIR (read-only, either layout) whether
// it holds a record at the location; a damaged record is held:
//
//	storehas DIR ORG/PROJECT/DOMAIN/KEY
func cmdStorehas(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: storehas DIR ORG/PROJECT/DOMAIN/KEY")
	}
	s, key := parseLocation(ts, args[1])
	dir := fsgrant.New(ts.MkAbs(args[0]))
	defer dir.Close()
	call := dir.Begin(context.Background())
	defer call.End()
	_, err := filestore.New(call).Get(s, key)
	has := abi.StatusOf(err) != abi.NotFound
	if err != nil && has && abi.StatusOf(err) != abi.Internal {
		ts.Fatalf("storehas %s: %v", args[1], err)
	}
	switch {
	case has && neg:
		ts.Fatalf("the store holds %s", args[1])
	case !has && !neg:
		ts.Fatalf("the store does not hold %s", args[1])
	}
}

// logFrame is one frame of a log.
type logFrame struct {
	off, end int
	op       byte
	rec      abi.Record
}

// readLog reads the log of org in store dir and its good frames.
func readLog(ts *testscript.TestScript, dir, org string) (string, []byte, []logFrame) {
	p := filepath.Join(ts.MkAbs(dir), "log", org)
	b, err := os.ReadFile(p)
	ts.Check(err)
	frames, err := parseLog(b)
	if err != nil {
		ts.Fatalf("%s: %v", p, err)
	}
	return p, b, frames
}

// parseLog returns the good frames of the log b, in order (skipping damage
// as the store does).
func parseLog(b []byte) ([]logFrame, error) {
	if len(b) < logHeaderSize || string(b[:8]) != "flytelog" {
		return nil, errors.New("not a log")
	}
	var frames []logFrame
	for at := logHeaderSize; at+logFrameHead < len(b); {
		n := int(binary.LittleEndian.Uint32(b[at+4:]))
		end := at + logFrameHead + n
		if binary.LittleEndian.Uint32(b[at:]) != logFrameSync || n < 1 || end > len(b) ||
			binary.LittleEndian.Uint32(b[at+8:]) != logCRC(b[16:logHeaderSize], b[at:end]) {
			at++ // damage: look for the next good frame
			continue
		}
		f := logFrame{off: at, end: end, op: b[at+logFrameHead]}
		if err := abi.Unmarshal(b[at+logFrameHead+1:end], &f.rec); err != nil {
			return nil, err
		}
		frames = append(frames, f)
		at = end
	}
	return frames, nil
}

// logCRC is a frame's checksum under generation gen (logfmt.go's frameCRC).
func logCRC(gen, frame []byte) uint32 {
	t := crc32.MakeTable(crc32.Castagnoli)
	c := crc32.Update(0, t, gen)
	c = crc32.Update(c, t, frame[4:8])
	return crc32.Update(c, t, frame[logFrameHead:])
}

// latestFrame returns the latest frame of the record at loc.
func latestFrame(ts *testscript.TestScript, frames []logFrame, loc string) logFrame {
	s, key := parseLocation(ts, loc)
	for i := len(frames) - 1; i >= 0; i-- {
		if r := frames[i].rec; r.Scope.Project == s.Project && r.Scope.Domain == s.Domain && r.Key == key {
			if frames[i].op != logOpPut && frames[i].op != logOpLegacy {
				break
			}
			return frames[i]
		}
	}
	ts.Fatalf("the log holds no record at %s", loc)
	return logFrame{}
}

// cmdLogrec reads or tampers with the latest record at a location in the
// log of its organization in store DIR:
//
//	logrec flip DIR LOC         invert the last byte of its frame, in place
//	logrec save DIR LOC FILE    write it to FILE as a record file of format 1
//	logrec put DIR LOC FILE     append FILE's record (a record file of format
//	                            1, or what save wrote) at LOC, as a good frame
//	logrec set DIR LOC FIELD N  append it with version, created or updated N
//	logrec insert DIR ORG TEXT  insert TEXT after the log's first frame
func cmdLogrec(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 {
		ts.Fatalf("usage: logrec flip|save|put|set|insert DIR ...")
	}
	if args[0] == "insert" {
		if len(args) != 4 {
			ts.Fatalf("usage: logrec insert DIR ORG TEXT")
		}
		p, b, frames := readLog(ts, args[1], args[2])
		if len(frames) == 0 {
			ts.Fatalf("logrec insert: the log holds no frame")
		}
		at := frames[0].end
		ts.Check(os.WriteFile(p, bytes.Join([][]byte{b[:at], []byte(args[3]), b[at:]}, nil), 0o600))
		return
	}
	s, _ := parseLocation(ts, args[2])
	p, b, frames := readLog(ts, args[1], s.Org)
	switch {
	case args[0] == "flip" && len(args) == 3:
		f := latestFrame(ts, frames, args[2])
		b[f.end-1] ^= 0xff
		ts.Check(os.WriteFile(p, b, 0o600))
	case args[0] == "save" && len(args) == 4:
		f := latestFrame(ts, frames, args[2])
		out := append([]byte(recordMagic), abi.Marshal(&f.rec)...)
		if f.op == logOpLegacy {
			out = f.rec.Sealed
		}
		ts.Check(os.WriteFile(ts.MkAbs(args[3]), out, 0o600))
	case args[0] == "put" && len(args) == 4:
		in, err := os.ReadFile(ts.MkAbs(args[3]))
		ts.Check(err)
		var r abi.Record
		ts.Check(abi.Unmarshal(bytes.TrimPrefix(in, []byte(recordMagic)), &r))
		r.Scope, r.Key = parseLocation(ts, args[2])
		appendFrame(ts, p, b, &r)
	case args[0] == "set" && len(args) == 5:
		r := latestFrame(ts, frames, args[2]).rec
		n, err := strconv.ParseInt(args[4], 10, 64)
		ts.Check(err)
		switch args[3] {
		case "version":
			r.Version = uint64(n)
		case "created":
			r.Created = n
		case "updated":
			r.Updated = n
		default:
			ts.Fatalf("logrec set: unknown field %q", args[3])
		}
		appendFrame(ts, p, b, &r)
	default:
		ts.Fatalf("usage: logrec flip|save|put|set|insert DIR ...")
	}
}

// appendFrame appends a good frame putting r to the log p, whose bytes are b.
func appendFrame(ts *testscript.TestScript, p string, b []byte, r *abi.Record) {
	payload := append([]byte{logOpPut}, abi.Marshal(r)...)
	frame := make([]byte, logFrameHead, logFrameHead+len(payload))
	binary.LittleEndian.PutUint32(frame, logFrameSync)
	binary.LittleEndian.PutUint32(frame[4:], uint32(len(payload)))
	frame = append(frame, payload...)
	binary.LittleEndian.PutUint32(frame[8:], logCRC(b[16:logHeaderSize], frame))
	ts.Check(os.WriteFile(p, append(b, frame...), 0o600))
}

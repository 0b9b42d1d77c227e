//go:build !wasip1

package filestore

import (
	"context"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/fsgrant"
)

func testRec(k string) abi.Record {
	return abi.Record{Scope: abi.Scope{Org: "acme"}, Key: k, Kind: abi.SecretString, Version: 1, Created: 1, Updated: 1, Sealed: []byte("sealed-" + k)}
}

func TestScanFrames(t *testing.T) {
	gen := [genSize]byte{1, 2, 3}
	var log []byte
	var ends []int
	for _, k := range []string{"A", "B", "C"} {
		r := testRec(k)
		log = appendFrame(log, gen, opPut, &r)
		ends = append(ends, len(log))
	}
	scan := func(b []byte) (keys []string, end, partial int64) {
		end, partial = scanFrames(b, 0, gen, func(f *frame) { r, _ := f.record(); keys = append(keys, r.Key) })
		return
	}
	if keys, end, partial := scan(log); len(keys) != 3 || end != int64(len(log)) || partial != -1 {
		t.Fatalf("whole log: %v %d %d", keys, end, partial)
	}
	// A torn tail: the last frame cut short is not read, and is partial.
	if keys, end, partial := scan(log[:len(log)-3]); len(keys) != 2 || end != int64(ends[1]) || partial != int64(ends[1]) {
		t.Fatalf("torn tail: %v %d %d", keys, end, partial)
	}
	// A damaged middle frame hides only itself.
	bad := append([]byte(nil), log...)
	bad[ends[0]+frameHead+3] ^= 1
	if keys, end, _ := scan(bad); len(keys) != 2 || keys[0] != "A" || keys[1] != "C" || end != int64(len(log)) {
		t.Fatalf("damaged middle: %v %d", keys, end)
	}
	// A frame of another generation does not check.
	read := 0
	scanFrames(log, 0, [genSize]byte{9}, func(*frame) { read++ })
	if read != 0 {
		t.Fatalf("%d frames of another generation read", read)
	}
}

// FuzzScanFrames: no input makes the scanner panic or report a frame
// outside the buffer, out of order, or overlapping the one before.
func FuzzScanFrames(f *testing.F) {
	gen := [genSize]byte{7}
	r := testRec("K")
	f.Add(appendFrame(nil, gen, opPut, &r))
	f.Add(appendFrame(appendFrame(nil, gen, opDelete, &r), gen, opPut, &r)[:30])
	f.Add([]byte{0x66, 0x79, 0x6c, 0x5f, 1, 0, 0, 0})
	f.Add(append(appendFrame(nil, gen, opLegacy, &r), 0x66, 0x79, 0x6c, 0x5f, 0xff, 0xff, 0xff, 0x7f))
	f.Fuzz(func(t *testing.T, b []byte) {
		last := int64(0)
		end, partial := scanFrames(b, 0, gen, func(fr *frame) {
			if fr.off < last || fr.end > int64(len(b)) || fr.end <= fr.off {
				t.Fatalf("frame %d..%d after %d in %d bytes", fr.off, fr.end, last, len(b))
			}
			last = fr.end
			// A good frame checks alone too, and its key and record
			// decode or fail without panicking.
			if _, ok := checkFrame(b[fr.off:fr.end], gen); !ok {
				t.Fatalf("frame %d..%d does not check alone", fr.off, fr.end)
			}
			if k, _, ok := fr.key(new(keyArena)); ok && strings.Count(k, "\x00") < 2 {
				t.Fatalf("key %q", k)
			}
			fr.record()
		})
		checkFrame(b, gen)
		parseHeader(b)
		if end < last || end > int64(len(b)) || partial > int64(len(b)) {
			t.Fatalf("end %d partial %d", end, partial)
		}
	})
}

// A record that frameRaw sends as it is decodes on the host without an
// error, as the record of the scope and key of its entry: otherwise a
// frame that a writer of the store made up (its CRC is no seal) would
// fail the host's decoding of a whole page instead of being reported.
func FuzzFrameRaw(f *testing.F) {
	gen := [genSize]byte{9}
	r := testRec("K")
	r.Scope.Project, r.Scope.Domain = "p", "d"
	f.Add(appendFrame(nil, gen, opPut, &r)[frameHead+1:])
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00, 0x12, 0x01, 'K', 0x18, 0xff, 0xff, 0xff, 0xff, 0x7f})
	f.Add([]byte{0x0a, 0x00, 0x12, 0x01, 'K', 0x1a, 0x00})
	f.Fuzz(func(t *testing.T, rec []byte) {
		frame := appendPayload(nil, gen, append([]byte{opPut}, rec...))
		e := logEntry{op: opPut, n: uint32(len(frame))}
		raw, ok := frameRaw(frame, gen, e, abi.Scope{Org: "acme", Project: "p", Domain: "d"}, "K")
		var got abi.Record
		err := abi.Unmarshal(rec, &got)
		if _, ok := recordNames(rec); ok && err != nil {
			t.Fatalf("well formed, but does not decode: %v", err)
		}
		if !ok {
			return
		}
		if string(raw) != string(rec) || err != nil || got.Scope != (abi.Scope{Org: "acme", Project: "p", Domain: "d"}) || got.Key != "K" {
			t.Fatalf("sent as it is: %+v, %v", got, err)
		}
		var resp abi.ListResponse
		if err := abi.Unmarshal(abi.Marshal(&abi.ListResponse{Encoded: abi.AppendEncodedRecord(nil, raw)}), &resp); err != nil || len(resp.Records) != 1 {
			t.Fatalf("in a page: %+v, %v", resp, err)
		}
	})
}

// A log appended to through fsgrant reads back the same, torn tail and
// all: a frame cut short is ignored, and the next append cuts it.
func TestLogAppendLoad(t *testing.T) {
	dir := t.TempDir()
	c := fsgrant.New(dir).Begin(context.Background())
	defer c.End()
	idx, err := loadLog(c, new([]byte), "acme", nil)
	if err != nil || len(idx.ents) != 0 || idx.end != 0 {
		t.Fatalf("missing log: %+v %v", idx, err)
	}
	if err := newLog(c, logPath("acme"), idx); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"B", "A"} {
		b := batch{gen: idx.gen}
		r := testRec(k)
		b.add(opPut, &r)
		if err := appendLog(c, idx, b.frames, b.news); err != nil {
			t.Fatal(err)
		}
	}
	if len(idx.ents) != 2 || idx.key(0) != entKey("", "", "A") {
		t.Fatalf("index not in key order: %+v", idx.ents)
	}
	// A torn frame after the valid end, as a crash mid-write leaves.
	r := testRec("TORN")
	torn := appendFrame(nil, idx.gen, opPut, &r)
	if err := c.WriteAt("log/acme", idx.end, torn[:len(torn)-2]); err != nil {
		t.Fatal(err)
	}
	again, err := loadLog(c, new([]byte), "acme", nil)
	if err != nil || len(again.ents) != 2 || again.end != idx.end {
		t.Fatalf("reloaded: %d entries, end %d (want 2, %d), %v", len(again.ents), again.end, idx.end, err)
	}
	b := batch{gen: again.gen}
	d := testRec("A")
	b.add(opDelete, &abi.Record{Scope: d.Scope, Key: "A"})
	if err := appendLog(c, again, b.frames, b.news); err != nil {
		t.Fatal(err)
	}
	final, err := loadLog(c, new([]byte), "acme", nil)
	if e, _ := final.entry(entKey("", "", "A")); err != nil || len(final.ents) != 2 || e.op != opDelete {
		t.Fatalf("after delete: %+v %v", final.ents, err)
	}
	if _, ok := final.entry(entKey("", "", "TORN")); ok {
		t.Fatal("the torn frame was read")
	}
	// Incremental: an index brought up to date from its end.
	if inc, err := loadLog(c, new([]byte), "acme", idx); err != nil {
		t.Fatal(err)
	} else if e, _ := inc.entry(entKey("", "", "A")); e.op != opDelete {
		t.Fatalf("incremental: %+v", inc.ents)
	}
	// A header torn by a crash (the file no longer than a header) is an
	// empty log; a longer file with a bad header is damage, not emptiness.
	if err := c.WriteAt("log/torn", 0, []byte("flyte")); err != nil {
		t.Fatal(err)
	}
	if x, err := loadLog(c, new([]byte), "torn", nil); err != nil || x.end != 0 {
		t.Fatalf("torn header: %+v %v", x, err)
	}
	if err := c.WriteAt("log/bad", 0, make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	if _, err := loadLog(c, new([]byte), "bad", nil); abi.StatusOf(err) != abi.Internal {
		t.Fatalf("bad header: %v", err)
	}
}

// A frame longer than a read chunk is read whole.
func TestScanLogLongFrame(t *testing.T) {
	dir := t.TempDir()
	c := fsgrant.New(dir).Begin(context.Background())
	defer c.End()
	idx := &logIndex{org: "acme"}
	if err := newLog(c, logPath("acme"), idx); err != nil {
		t.Fatal(err)
	}
	for i, n := range []int{100, readChunk + 1000, 50} {
		r := testRec("K" + string(rune('A'+i)))
		r.Sealed = make([]byte, n)
		b := batch{gen: idx.gen}
		b.add(opPut, &r)
		if err := appendLog(c, idx, b.frames, b.news); err != nil {
			t.Fatal(err)
		}
	}
	x, err := loadLog(c, new([]byte), "acme", nil)
	if err != nil || len(x.ents) != 3 || x.end != idx.end {
		t.Fatalf("%d entries, end %d (want %d), %v", len(x.ents), x.end, idx.end, err)
	}
}

// frameCRC is CRC-32C of the generation, the length and the payload, as
// the format says (and as logs written before it stepped through the
// table itself were checked).
func TestFrameCRC(t *testing.T) {
	gen := [genSize]byte{1, 2, 3, 250}
	for _, payload := range [][]byte{{opPut}, []byte("\x01some record bytes, longer than sixteen"), make([]byte, 4096)} {
		var head [frameHead]byte
		putU32(head[4:], uint32(len(payload)))
		whole := append(append(append([]byte(nil), gen[:]...), head[4:8]...), payload...)
		if got, want := frameCRC(gen, head[:], payload), crc32.Checksum(whole, castagnoli); got != want {
			t.Fatalf("frameCRC of a %d-byte payload = %#x, want %#x", len(payload), got, want)
		}
	}
}

// An index merges frames found in offset order (the later frame of a key
// wins), one at a time or many at once, and keeps its keys in order in
// its pointer-free entries; earlier keys it returned stay valid.
func TestIndexMerge(t *testing.T) {
	x := &logIndex{}
	want := map[string]int64{}
	off := int64(0)
	add := func(keys ...string) {
		var news []logEntry
		for _, k := range keys {
			off++
			news = append(news, logEntry{k: k, off: off, n: uint32(len(k)), op: opPut})
			want[k] = off
		}
		x.merge(news)
	}
	add("m", "c", "x", "c")
	first := x.key(0)
	add("a")
	add("c")
	add("z", "b", "m", "b", "a")
	add()
	if first != "c" {
		t.Fatalf("a key returned earlier changed to %q", first)
	}
	if x.len() != len(want) {
		t.Fatalf("%d entries, want %d", x.len(), len(want))
	}
	for i := range x.len() {
		e := x.at(i)
		if i > 0 && x.key(i-1) >= e.k {
			t.Fatalf("%q after %q", e.k, x.key(i-1))
		}
		if want[e.k] != e.off || int(e.n) != len(e.k) {
			t.Fatalf("%q at %d (n %d), want %d", e.k, e.off, e.n, want[e.k])
		}
		if got, ok := x.entry(e.k); !ok || got != e {
			t.Fatalf("entry(%q) = %+v, %v", e.k, got, ok)
		}
	}
	if _, ok := x.entry("q"); ok {
		t.Fatal("found a key never added")
	}
}

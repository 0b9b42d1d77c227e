package inject

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"runtime"
	"testing"
)

// The build ID read from the executable is the one debug/elf finds in its
// .note.go.buildid section.
func TestSelfBuildID(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("read on Linux only")
	}
	id, ok := selfBuildID()
	if !ok || id == "" {
		t.Fatal("no build ID")
	}
	f, err := elf.Open("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sec := f.Section(".note.go.buildid")
	if sec == nil {
		t.Skip("no .note.go.buildid section")
	}
	b, err := sec.Data()
	if err != nil {
		t.Fatal(err)
	}
	if want, ok := goNote(b); !ok || want != id {
		t.Fatalf("read %q, section has %q", id, want)
	}
	if !bytes.Contains(b, []byte(id)) {
		t.Fatal("not in the section")
	}
}

// noteFile is a minimal ELF image with one PT_NOTE segment holding notes.
func noteFile(notes []byte) []byte {
	b := make([]byte, 64+56)
	copy(b, "\x7fELF\x02\x01")
	le := binary.LittleEndian
	le.PutUint64(b[0x20:], 64)
	le.PutUint16(b[0x36:], 56)
	le.PutUint16(b[0x38:], 1)
	ph := b[64:]
	le.PutUint32(ph, 4)
	le.PutUint64(ph[0x08:], uint64(len(b)))
	le.PutUint64(ph[0x20:], uint64(len(notes)))
	return append(b, notes...)
}

func note(name string, typ uint32, desc string) []byte {
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, uint32(len(name)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(desc)))
	b = binary.LittleEndian.AppendUint32(b, typ)
	b = append(b, name...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	b = append(b, desc...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func TestParseGoBuildID(t *testing.T) {
	gnu := note("GNU\x00", 3, "0123456789abcdef0123")
	if id, ok := parseGoBuildID(bytes.NewReader(noteFile(append(gnu, note("Go\x00\x00", 4, "abc/def")...)))); !ok || id != "abc/def" {
		t.Fatalf("got %q %v", id, ok)
	}
	for name, b := range map[string][]byte{
		"no Go note":   noteFile(gnu),
		"empty":        nil,
		"not ELF":      []byte("#!/bin/sh\n"),
		"truncated":    noteFile(note("Go\x00\x00", 4, "abc/def"))[:64+56+14],
		"other type":   noteFile(note("Go\x00\x00", 1, "abc")),
		"32-bit":       append([]byte("\x7fELF\x01\x01"), make([]byte, 100)...),
		"empty Go ID":  noteFile(note("Go\x00\x00", 4, "")),
		"desc too big": noteFile(append(note("Go\x00\x00", 4, "abc")[:4], 0xff, 0xff, 0xff, 0x7f, 4, 0, 0, 0)),
	} {
		if id, ok := parseGoBuildID(bytes.NewReader(b)); ok {
			t.Errorf("%s: read %q", name, id)
		}
	}
}

func FuzzParseGoBuildID(f *testing.F) {
	f.Add(noteFile(note("Go\x00\x00", 4, "abc/def")))
	f.Add(noteFile(append(note("GNU\x00", 3, "0123"), note("Go\x00\x00", 4, "x")...)))
	if b, err := os.ReadFile("/proc/self/exe"); err == nil && len(b) > 4096 {
		f.Add(b[:4096])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		id, ok := parseGoBuildID(bytes.NewReader(b))
		if ok && (id == "" || !bytes.Contains(b, []byte(id))) {
			t.Fatalf("read %q", id)
		}
	})
}

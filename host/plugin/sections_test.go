package plugin

import (
	"bytes"
	"strings"
	"testing"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/internal/wasmtest"
)

// findDescribe finds the one flyte.describe section among many others,
// allocating nothing, and refuses two, or one over the limit.
func TestFindDescribe(t *testing.T) {
	sec := abi.Marshal(&abi.Describe{Minor: abi.Minor, Kind: abi.KindStore, Name: "s"})
	m := wasmtest.Guest()
	for range 10000 {
		m.Custom("x", nil)
	}
	wasm := m.Custom(abi.DescribeSection, sec).Custom("flyte.describf", []byte("no")).Encode()
	payload, ok, err := findDescribe(wasm)
	if err != nil || !ok || !bytes.Equal(payload, sec) {
		t.Fatalf("findDescribe = %q, %v, %v", payload, ok, err)
	}
	if n := testing.AllocsPerRun(10, func() { _, _, _ = findDescribe(wasm) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
	if p, ok, err := findDescribe(wasmtest.Guest().Encode()); p != nil || !ok || err != nil {
		t.Errorf("no section: %q, %v, %v", p, ok, err)
	}
	two := wasmtest.Guest().Custom(abi.DescribeSection, sec).Custom(abi.DescribeSection, sec).Encode()
	if _, _, err := findDescribe(two); err == nil || err.Error() != "has 2 flyte.describe sections; a plugin may have one" {
		t.Errorf("two: %v", err)
	}
	big := wasmtest.Guest().Custom(abi.DescribeSection, make([]byte, maxDescribeSection+1)).Encode()
	if _, _, err := findDescribe(big); err == nil || err.Error() != "has a flyte.describe section of 65537 bytes; the limit is 65536" {
		t.Errorf("big: %v", err)
	}
	for _, bad := range []string{"", "\x00asm", "\x00asm\x01\x00\x00\x00\x00", "\x00asm\x01\x00\x00\x00\x00\x05\x0aab", "\x00asm\x01\x00\x00\x00\x01\xff\xff\xff\xff\x7f", "\x00asm\x01\x00\x00\x00\x00\x02\x05a"} {
		if p, ok, err := findDescribe([]byte(bad)); p != nil || ok && len(bad) > 8 || err != nil {
			t.Errorf("%q: %q, %v, %v", bad, p, ok, err)
		}
	}
}

// A module of many custom sections costs Inspect nothing per section
// beyond the walk: the runtime keeps none of them.
func TestInspectManySections(t *testing.T) {
	h, err := NewHost(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	wasm := wasmtest.Guest().Encode()
	one := wasmtest.AppendCustom(nil, "a", nil) // 4 bytes
	wasm = append(wasm, bytes.Repeat(one, 200000)...)
	in, err := h.Inspect(t.Context(), "many", wasm)
	if err != nil || in.Describe != nil {
		t.Fatalf("Inspect = %+v, %v", in, err)
	}
}

// FuzzSections: findDescribe never panics, its payload is part of the
// module, and a describe section appended to a module it walked is found
// (or counted as a second one).
func FuzzSections(f *testing.F) {
	f.Add(wasmtest.Guest().Custom(abi.DescribeSection, []byte{1}).Encode(), []byte("d"))
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x00\x0f\x0eflyte.describe"), []byte{})
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x00\x80\x80\x80\x80\x10"), []byte{})
	f.Fuzz(func(t *testing.T, wasm, data []byte) {
		payload, ok, err := findDescribe(wasm)
		if payload != nil && !bytes.Contains(wasm, payload) {
			t.Fatal("payload is not part of the module")
		}
		if !ok || err != nil {
			return
		}
		if err != nil && strings.ContainsAny(err.Error(), "\n\r") {
			t.Fatal("not one line")
		}
		more := wasmtest.AppendCustom(bytes.Clone(wasm), abi.DescribeSection, data)
		p2, ok2, err2 := findDescribe(more)
		switch {
		case !ok2:
			t.Fatal("appending a section broke the walk")
		case payload == nil && (err2 != nil || !bytes.Equal(p2, data)):
			t.Fatalf("appended section not found: %q, %v", p2, err2)
		case payload != nil && err2 == nil:
			t.Fatal("a second section not refused")
		}
	})
}

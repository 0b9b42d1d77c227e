// Command describesection records a plugin's description in the plugin:
// it loads FILE.wasm only to describe it, and appends a custom section
// named flyte.describe (abi.DescribeSection) whose payload is the encoded
// abi.Describe, so that `flyte plugin inspect` can show the plugin's kind
// and ops without running it (abi/SPEC.md, section 1). A flyte.describe
// section the file already has is replaced.
//
// This runs the plugin (its initialisation and flyte_describe, sandboxed
// as always): it is a build step, for a module one builds oneself.
//
//	go run github.com/flytesecrets/flyte/internal/describesection FILE.wasm...
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/plugin"
	"github.com/flytesecrets/flyte/internal/wasmtest"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: describesection FILE.wasm...")
		os.Exit(2)
	}
	for _, path := range os.Args[1:] {
		if err := run(path); err != nil {
			fmt.Fprintln(os.Stderr, "describesection:", err)
			os.Exit(1)
		}
	}
}

func run(path string) error {
	wasm, err := plugin.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := Add(context.Background(), filepath.Base(path), wasm)
	if err != nil {
		return err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp := path + ".describesection.tmp"
	if err := os.WriteFile(tmp, out, fi.Mode().Perm()); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Add returns wasm with a flyte.describe section holding its description
// (and no other flyte.describe section).
func Add(ctx context.Context, name string, wasm []byte) ([]byte, error) {
	wasm, err := Strip(wasm)
	if err != nil {
		return nil, err
	}
	h, err := plugin.NewHost(plugin.Options{})
	if err != nil {
		return nil, err
	}
	defer h.Close()
	p, err := h.Load(ctx, plugin.Spec{Name: name, Wasm: wasm, DescribeOnly: true})
	if err != nil {
		return nil, err
	}
	defer p.Close(ctx)
	return wasmtest.AppendCustom(wasm, abi.DescribeSection, abi.Marshal(&p.Info)), nil
}

// Strip removes the module's flyte.describe sections.
func Strip(wasm []byte) ([]byte, error) {
	const header = 8
	if len(wasm) < header || string(wasm[:4]) != "\x00asm" {
		return nil, errors.New("not a WebAssembly module")
	}
	out := append([]byte(nil), wasm[:header]...)
	for i := header; i < len(wasm); {
		start := i
		id := wasm[i]
		size, n, ok := uleb(wasm[i+1:])
		if !ok || uint64(len(wasm)-(i+1+n)) < uint64(size) {
			return nil, errors.New("malformed section")
		}
		body := wasm[i+1+n : i+1+n+int(size)]
		i += 1 + n + int(size)
		if id == 0 {
			l, m, ok := uleb(body)
			if ok && uint64(len(body)-m) >= uint64(l) && string(body[m:m+int(l)]) == abi.DescribeSection {
				continue
			}
		}
		out = append(out, wasm[start:i]...)
	}
	return out, nil
}

// uleb decodes an unsigned LEB128 u32: its value and length.
func uleb(b []byte) (uint32, int, bool) {
	var v uint32
	for i := 0; i < len(b) && i < 5; i++ {
		v |= uint32(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			return v, i + 1, true
		}
	}
	return 0, 0, false
}

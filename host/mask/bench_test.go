package mask

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user and system time so far. The machines these
// benchmarks run on are shared and loaded, so wall time (ns/op) can be
// several times the work; cpu-ms/op and cpu-MB/s count only this process's
// CPU (including the garbage collector's).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loop runs body b.N times and reports its CPU time per op, and per byte
// when bytes > 0.
func loop(b *testing.B, bytes int, body func()) {
	start := cpuTime()
	for b.Loop() {
		body()
	}
	cpu := cpuTime() - start
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
	if bytes > 0 {
		b.ReportMetric(float64(bytes)*float64(b.N)/cpu.Seconds()/1e6, "cpu-MB/s")
	}
}

// benchValues returns n values of size bytes: random bytes, or PEM-like
// text (base64 in lines of 64) when text is set.
func benchValues(n, size int, text bool) [][]byte {
	rng := rand.New(rand.NewPCG(uint64(n), uint64(size)))
	var vs [][]byte
	for range n {
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		if text {
			enc := base64.StdEncoding.AppendEncode(nil, b)
			b = b[:0]
			for len(b) < size {
				k := min(64, size-len(b)-1, len(enc))
				b = append(append(b, enc[:k]...), '\n')
				enc = enc[k:]
			}
		}
		vs = append(vs, b)
	}
	return vs
}

// BenchmarkBuild measures building the masker (Forms of every value, then
// NewWriter) for sets of values, with the matcher and, where it fits in
// this machine's memory, with the Aho-Corasick automaton it replaced on the
// same patterns. B/op is the memory allocated per build.
func BenchmarkBuild(b *testing.B) {
	sets := []struct {
		name      string
		n, size   int
		text      bool
		automaton bool
	}{
		{"1x1MiB", 1, 1 << 20, false, true},
		{"4x1MiB", 4, 1 << 20, false, true},
		{"16x1MiB", 16, 1 << 20, false, false},
		{"64x1MiB", 64, 1 << 20, false, false},
		{"32x8KiB-pem", 32, 8 << 10, true, true},
		{"512x8KiB-pem", 512, 8 << 10, true, false},
	}
	for _, s := range sets {
		vs := benchValues(s.n, s.size, s.text)
		forms := func() [][]byte {
			var pats [][]byte
			for _, v := range vs {
				pats = append(pats, Forms(v)...)
			}
			return pats
		}
		b.Run(s.name+"/matcher", func(b *testing.B) {
			b.ReportAllocs()
			loop(b, 0, func() {
				if NewWriter(io.Discard, forms(), 0).m == nil {
					b.Fatal("no matcher")
				}
			})
		})
		if s.automaton {
			b.Run(s.name+"/automaton", func(b *testing.B) {
				b.ReportAllocs()
				loop(b, 0, func() {
					if newAutomaton(forms()) == nil {
						b.Fatal("no automaton")
					}
				})
			})
		}
	}
}

// BenchmarkScan measures masking throughput on 1 MiB of log-like text with
// the patterns of 10 ordinary values, and of 16 values of 1 MiB (chunks),
// for the matcher and for a plain walk of the automaton over the same
// bytes (the old writer's inner loop, without its bookkeeping).
func BenchmarkScan(b *testing.B) {
	text := logText(1 << 20)
	small := func() [][]byte {
		var pats [][]byte
		for i := range 10 {
			pats = append(pats, Forms(fmt.Appendf(nil, "sk-live-%02d-%016x", i, uint64(i)*0x9e3779b97f4a7c15))...)
		}
		return pats
	}()
	var large [][]byte
	for _, v := range benchValues(16, 1<<20, false) {
		large = append(large, Forms(v)...)
	}
	for _, c := range []struct {
		name      string
		pats      [][]byte
		automaton bool
	}{{"10values", small, true}, {"16x1MiB", large, false}} {
		b.Run(c.name+"/matcher", func(b *testing.B) {
			w := NewWriter(io.Discard, c.pats, 0)
			b.SetBytes(int64(len(text)))
			loop(b, len(text), func() {
				for chunk := range slices.Chunk(text, 32<<10) {
					_, _ = w.Write(chunk)
				}
			})
		})
		if c.automaton {
			a := newAutomaton(c.pats)
			b.Run(c.name+"/automaton", func(b *testing.B) {
				b.SetBytes(int64(len(text)))
				var s int32
				loop(b, len(text), func() {
					for _, x := range text {
						if s == 0 {
							s = a.root[x]
						} else {
							s = a.next(s, x)
						}
					}
				})
				if s < 0 {
					b.Fatal(s)
				}
			})
		}
	}
}

// logText is n bytes of log-like text.
func logText(n int) []byte {
	rng := rand.New(rand.NewPCG(7, 7))
	words := bytes.Fields([]byte("the quick brown fox jumps over lazy dog INFO WARN request id=42 " +
		"user=alice path=/api/v1/items status=200 latency=3ms {\"ok\":true} \x1b[32mgreen\x1b[0m " +
		"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA c2VjcmV0 dG9r"))
	var text []byte
	for len(text) < n {
		text = append(text, words[rng.IntN(len(words))]...)
		if rng.IntN(12) == 0 {
			text = append(text, '\n')
		} else {
			text = append(text, ' ')
		}
	}
	return text[:n]
}

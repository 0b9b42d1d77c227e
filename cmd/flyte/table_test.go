package main

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/core"
	"github.com/flytesecrets/flyte/host/scope"
)

// writeTable aligns its columns exactly as text/tabwriter did (minwidth 0,
// tabwidth 4, padding 2, spaces), which it replaced for speed.
func TestWriteTableAsTabwriter(t *testing.T) {
	at := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	var list []core.Secret
	for i := range 40 {
		// Times that repeat, differ within a second, or only by their
		// location (writeTable remembers the last it formatted).
		created := at.Add(time.Duration(i/4) * time.Second).Add(time.Duration(i%4) * 300 * time.Millisecond)
		if i%7 == 3 {
			created = created.In(time.FixedZone("X", 3600))
		}
		s := core.Secret{Key: strings.Repeat("K", 1+i%13) + strconv.Itoa(i), Kind: abi.SecretKind(1 + i%3), Version: uint64(i * i * 997),
			Created: created, Updated: at.Add(time.Duration(i/3) * time.Hour)}
		if i%2 == 1 {
			s.Scope = scope.Scope{Project: strings.Repeat("p", i%9+1)}
		}
		if i%3 == 1 {
			s.Scope.Domain = "production"
		}
		list = append(list, s)
	}
	for _, n := range []int{0, 1, 2, len(list)} {
		for _, aligned := range []bool{true, false} {
			var got bytes.Buffer
			if err := writeTable(&got, list[:n], aligned); err != nil {
				t.Fatal(err)
			}
			var want bytes.Buffer
			var w io.Writer = &want
			sep := " "
			var tw *tabwriter.Writer
			if aligned {
				tw = tabwriter.NewWriter(&want, 0, 4, 2, ' ', 0)
				w, sep = tw, "\t"
			}
			fmt.Fprintln(w, strings.Join([]string{"NAME", "PROJECT", "DOMAIN", "TYPE", "VERSION", "CREATED", "UPDATED"}, sep))
			for _, s := range list[:n] {
				fmt.Fprintln(w, strings.Join([]string{s.Key, dash(s.Scope.Project), dash(s.Scope.Domain), s.Kind.String(),
					strconv.FormatUint(s.Version, 10), s.Created.Format(timeLayout), s.Updated.Format(timeLayout)}, sep))
			}
			if tw != nil {
				tw.Flush()
			}
			if got.String() != want.String() {
				t.Fatalf("%d secrets, aligned %v:\n%s\nwant:\n%s", n, aligned, got.String(), want.String())
			}
		}
	}
}

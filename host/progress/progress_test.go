package progress

import (
	"bytes"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Not on a terminal, a task is one line when it starts, exactly, and
// nothing else: the CLI's scripts assert it.
func TestNotATerminal(t *testing.T) {
	var buf bytes.Buffer
	d := New(&buf, nil)
	if d.Live() {
		t.Fatal("a buffer is live")
	}
	a := d.Start("compiling plugin a (2.1 MB, first use only)", time.Second)
	b := d.Start("compiling plugin b (19 KB, first use only)", 0)
	b.Done(false)
	a.Done(true)
	a.Done(true)
	want := "flyte: compiling plugin a (2.1 MB, first use only)...\nflyte: compiling plugin b (19 KB, first use only)...\n"
	if buf.String() != want {
		t.Fatalf("got %q\nwant %q", buf.String(), want)
	}

	// A pipe is no terminal either.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	d = New(w, nil)
	d.Start("compiling plugin c (512 bytes, first use only)", time.Second).Done(true)
	w.Close()
	out, _ := io.ReadAll(r)
	if string(out) != "flyte: compiling plugin c (512 bytes, first use only)...\n" {
		t.Fatalf("pipe: %q", out)
	}
}

// A nil Display shows nothing and its tasks can be ended.
func TestNil(t *testing.T) {
	var d *Display
	if d.Live() {
		t.Fatal("nil is live")
	}
	d.Start("x", time.Second).Done(true)
	if New(nil, nil) != nil {
		t.Fatal("New(nil) is not nil")
	}
}

// screen plays what a terminal was sent (the sequences a Display writes:
// carriage return, newline, cursor up, erase line) and returns its lines,
// trailing blanks cut, the empty ones at the end dropped.
func screen(out string) []string {
	lines := [][]rune{{}}
	row, col := 0, 0
	for i := 0; i < len(out); {
		switch c := out[i]; {
		case c == '\r':
			col = 0
			i++
		case c == '\n':
			row++
			for len(lines) <= row {
				lines = append(lines, []rune{})
			}
			i++
		case c == 0x1b:
			m := regexp.MustCompile(`^\x1b\[(\d*)([A-Za-z])`).FindStringSubmatch(out[i:])
			if m == nil {
				panic("unknown sequence at " + strconv.Quote(out[i:min(len(out), i+8)]))
			}
			n, _ := strconv.Atoi(m[1])
			switch m[2] {
			case "A":
				row = max(0, row-max(n, 1))
			case "K":
				if n == 2 {
					lines[row] = []rune{}
				} else if col < len(lines[row]) {
					lines[row] = lines[row][:col]
				}
			default:
				panic("unexpected sequence " + strconv.Quote(m[0]))
			}
			i += len(m[0])
		default:
			r := []rune(out[i:])[0]
			for len(lines[row]) <= col {
				lines[row] = append(lines[row], ' ')
			}
			lines[row][col] = r
			col++
			i += len(string(r))
		}
	}
	var s []string
	for _, l := range lines {
		s = append(s, strings.TrimRight(string(l), " "))
	}
	for len(s) > 0 && s[len(s)-1] == "" {
		s = s[:len(s)-1]
	}
	return s
}

func TestScreen(t *testing.T) {
	got := screen("a\nbb\n\x1b[2A\r\x1b[2Kc\n\r\x1b[2Kdd\n")
	if strings.Join(got, "|") != "c|dd" {
		t.Fatalf("%q", got)
	}
}

// run shows four tasks on a pseudo-terminal of cols columns, the first
// three at once, and returns the screen at the end.
func run(t *testing.T, cols uint16) []string {
	master, slave := openPty(t, cols)
	defer master.Close()
	got := make(chan string)
	go func() {
		b, _ := io.ReadAll(master) // EIO once the slave is closed
		got <- string(b)
	}()
	d := New(slave, func(string) string { return "xterm" })
	if !d.Live() {
		t.Fatal("a terminal is not live")
	}
	a := d.Start("compiling plugin filestore (2.1 MB, first use only)", time.Hour)
	b := d.Start("compiling plugin envinject (2.0 MB, first use only)", 0)
	c := d.Start("compiling plugin fileinject (2.0 MB, first use only)", time.Nanosecond)
	b.Done(true)
	a.Done(false)
	c.Done(true)
	d.Start("compiling plugin etcd (2.4 MB, first use only)", time.Hour).Done(true)
	slave.Close()
	return screen(<-got)
}

// On a terminal the tasks are lines redrawn in place; when none runs any
// more each line says how long its task took, and a later task starts a
// line of its own below them.
func TestTerminal(t *testing.T) {
	lines := run(t, 200)
	want := []string{
		`flyte: compiling plugin filestore \(2\.1 MB, first use only\)\.\.\. failed after \d+\.\ds`,
		`flyte: compiling plugin envinject \(2\.0 MB, first use only\)\.\.\. done in \d+\.\ds`,
		`flyte: compiling plugin fileinject \(2\.0 MB, first use only\)\.\.\. done in \d+\.\ds`,
		`flyte: compiling plugin etcd \(2\.4 MB, first use only\)\.\.\. done in \d+\.\ds`,
	}
	if len(lines) != len(want) {
		t.Fatalf("screen:\n%s", strings.Join(lines, "\n"))
	}
	for i, l := range lines {
		if !regexp.MustCompile(`^` + want[i] + `$`).MatchString(l) {
			t.Errorf("line %d: %q does not match %s", i, l, want[i])
		}
	}
}

// Lines are cut to the terminal's width: one that wrapped would throw off
// the count of lines the next redraw goes back up.
func TestTerminalNarrow(t *testing.T) {
	lines := run(t, 30)
	want := []string{
		"flyte: compiling plugin files",
		"flyte: compiling plugin envin",
		"flyte: compiling plugin filei",
		"flyte: compiling plugin etcd ",
	}
	if len(lines) != len(want) {
		t.Fatalf("screen:\n%s", strings.Join(lines, "\n"))
	}
	for i, l := range lines {
		if l != strings.TrimRight(want[i], " ") {
			t.Errorf("line %d: %q, want %q", i, l, want[i])
		}
	}
}

// A running task's line has a bar, a percentage held under 100% and the
// time elapsed.
func TestLine(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		elapsed, expect time.Duration
		want            string
	}{
		{0, time.Second, "flyte: x... [                    ]   0% 0.0s"},
		{500 * time.Millisecond, time.Second, "flyte: x... [##########          ]  50% 0.5s"},
		{3 * time.Second, time.Second, "flyte: x... [################### ]  99% 3.0s"},
		{1500 * time.Millisecond, 0, "flyte: x... 1.5s"},
		{125 * time.Second, time.Hour, "flyte: x... [                    ]   3% 2m05s"},
	} {
		tk := &Task{label: "x", start: now.Add(-c.elapsed), expect: c.expect}
		if got := tk.line(now); got != c.want {
			t.Errorf("%v of %v: %q, want %q", c.elapsed, c.expect, got, c.want)
		}
	}
}

// TERM=dumb gets the plain line even on a terminal.
func TestDumbTerminal(t *testing.T) {
	master, slave := openPty(t, 80)
	defer master.Close()
	defer slave.Close()
	if New(slave, func(string) string { return "dumb" }).Live() {
		t.Fatal("TERM=dumb is live")
	}
}

// Close ends the lines of tasks still running as stopped; their Done then
// changes nothing.
func TestClose(t *testing.T) {
	master, slave := openPty(t, 200)
	defer master.Close()
	got := make(chan string)
	go func() {
		b, _ := io.ReadAll(master)
		got <- string(b)
	}()
	d := New(slave, func(string) string { return "xterm" })
	a := d.Start("compiling plugin a (1 KB, first use only)", time.Hour)
	d.Start("compiling plugin b (1 KB, first use only)", time.Hour).Done(true)
	d.Close()
	a.Done(true)
	d.Close()
	slave.Close()
	lines := screen(<-got)
	if len(lines) != 2 || !regexp.MustCompile(`^flyte: compiling plugin a \(1 KB, first use only\)\.\.\. stopped after \d+\.\ds$`).MatchString(lines[0]) ||
		!regexp.MustCompile(`^flyte: compiling plugin b \(1 KB, first use only\)\.\.\. done in \d+\.\ds$`).MatchString(lines[1]) {
		t.Fatalf("screen:\n%s", strings.Join(lines, "\n"))
	}
}

// relayed is a Terminal elsewhere (the agent's relay to a client), whose
// width the test sets.
type relayed struct {
	bytes.Buffer
	width int
}

func (r *relayed) TerminalWidth() int { return r.width }

// A Terminal is drawn as a terminal of its width while it is one, and
// gets a line per task while it is not: the agent draws each client's
// progress as that client's process would.
func TestRelayedTerminal(t *testing.T) {
	w := &relayed{width: 30}
	d := New(w, func(string) string { return "" })
	d.Start("compiling plugin filestore (2.1 MB, first use only)", time.Hour).Done(true)
	lines := screen(w.String())
	if len(lines) != 1 || lines[0] != "flyte: compiling plugin files" {
		t.Fatalf("live screen: %q", lines)
	}
	w.Reset()
	w.width = 0 // the next client's standard error is no terminal
	d.Start("compiling plugin envinject (2.0 MB, first use only)", time.Hour).Done(true)
	if got := w.String(); got != "flyte: compiling plugin envinject (2.0 MB, first use only)...\n" {
		t.Fatalf("not a terminal: %q", got)
	}
}

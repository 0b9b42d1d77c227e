// Package progress tells the user what flyte is busy with for a while (a
// plugin compiling on its first use). On a terminal each task is a line
// with a bar, a percentage and the time elapsed, redrawn in place and
// finalized with the time it took; anywhere else (a pipe, a file, a test)
// each task is one line when it starts, and nothing more.
//
// The percentage is an estimate (the work reports no progress of its own):
// the time elapsed against the time the caller expects, held below 100%
// until the task is done.
package progress

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// redraw is how often a terminal's lines are redrawn while a task runs.
const redraw = 100 * time.Millisecond

// barWidth is the number of cells of the bar.
const barWidth = 20

// Display shows tasks on a writer. It is safe for concurrent use. A nil
// Display shows nothing.
type Display struct {
	w io.Writer
	// fd is the terminal's descriptor, or -1 when w is not a terminal.
	fd int
	// term is w when it stands for a terminal elsewhere (a Terminal).
	term Terminal

	mu sync.Mutex
	// live says the block's lines are redrawn in place: decided when a
	// block starts, kept until it ends.
	live bool
	// block are the tasks on screen since the last time none was running,
	// in the order they started; drawn is how many of its lines are on
	// screen above the cursor.
	block []*Task
	drawn int
	// tick is closed to stop the redrawing goroutine; nil when none runs.
	tick chan struct{}
}

// A Terminal is a writer that stands for a terminal elsewhere: the
// resident agent's relay to the standard error of the client it serves.
// TerminalWidth is that terminal's width, or 0 when there is none now.
type Terminal interface {
	io.Writer
	TerminalWidth() int
}

// New returns a Display on w: a live one when w is a terminal (an *os.File
// that is one, with TERM other than "dumb", or a Terminal whose width is
// not 0), else one that prints a line per task. getenv reads TERM; nil
// means os.Getenv.
func New(w io.Writer, getenv func(string) string) *Display {
	if w == nil {
		return nil
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	d := &Display{w: w, fd: -1}
	if fd, ok := terminalFD(w, getenv); ok {
		d.fd = fd
	} else if t, ok := w.(Terminal); ok {
		d.term = t
	}
	return d
}

// terminalFD is w's descriptor when w is a terminal that is not "dumb".
func terminalFD(w io.Writer, getenv func(string) string) (int, bool) {
	f, ok := w.(*os.File)
	if !ok || f == nil || getenv("TERM") == "dumb" || !term.IsTerminal(int(f.Fd())) {
		return -1, false
	}
	return int(f.Fd()), true
}

// TerminalWidth is the width of the terminal w is, 0 when w is not one
// (as New decides): what a client tells the agent that shows progress for
// it. getenv reads TERM; nil means os.Getenv.
func TerminalWidth(w io.Writer, getenv func(string) string) int {
	if getenv == nil {
		getenv = os.Getenv
	}
	fd, ok := terminalFD(w, getenv)
	if !ok {
		return 0
	}
	if width, _, err := term.GetSize(fd); err == nil && width > 0 {
		return width
	}
	return 80
}

// Live reports whether d redraws its lines in place (a terminal) now.
func (d *Display) Live() bool { return d != nil && d.width() > 0 }

// width is the width of d's terminal now, 0 when d is not on one.
func (d *Display) width() int {
	switch {
	case d.fd >= 0:
		if w, _, err := term.GetSize(d.fd); err == nil && w > 0 {
			return w
		}
		return 80
	case d.term != nil:
		return d.term.TerminalWidth()
	}
	return 0
}

// Task is one thing being done, from Start to Done.
type Task struct {
	d      *Display
	label  string
	start  time.Time
	expect time.Duration
	took   time.Duration
	state  int
}

const (
	running = iota
	done
	failed
	stopped
)

// Start shows that the work label describes has begun ("compiling plugin
// filestore (2.1 MB, first use only)"); expect is how long it should take
// (0: unknown, no percentage). Not on a terminal, the line is
// "flyte: LABEL...". The caller must call Done.
func (d *Display) Start(label string, expect time.Duration) *Task {
	t := &Task{d: d, label: label, start: time.Now(), expect: expect}
	if d == nil {
		return t
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.block) == 0 {
		d.live = d.Live()
	}
	if !d.live {
		_, _ = io.WriteString(d.w, "flyte: "+label+"...\n")
		return t
	}
	d.block = append(d.block, t)
	d.draw(time.Now())
	if d.tick == nil {
		d.tick = make(chan struct{})
		go d.loop(d.tick)
	}
	return t
}

// Done ends the task: ok says whether the work succeeded. On a terminal
// its line then says how long it took; Done twice is Done once.
func (t *Task) Done(ok bool) {
	d := t.d
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if t.state != running {
		return
	}
	t.took = time.Since(t.start)
	t.state = done
	if !ok {
		t.state = failed
	}
	if !slices.Contains(d.block, t) {
		return
	}
	d.draw(time.Now())
	for _, b := range d.block {
		if b.state == running {
			return
		}
	}
	// Nothing runs: the block's lines stay as they are, and the next task
	// starts a block of its own below them.
	d.block, d.drawn = nil, 0
	close(d.tick)
	d.tick = nil
}

// Close ends the lines of the tasks still running, on a terminal, as
// stopped (the process is about to exit, or the work goes on unseen): no
// line is left half drawn. Their Done does nothing then.
func (d *Display) Close() {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tick == nil {
		return
	}
	for _, t := range d.block {
		if t.state == running {
			t.took, t.state = time.Since(t.start), stopped
		}
	}
	d.draw(time.Now())
	d.block, d.drawn = nil, 0
	close(d.tick)
	d.tick = nil
}

// loop redraws the block until stop is closed.
func (d *Display) loop(stop chan struct{}) {
	t := time.NewTicker(redraw)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			d.mu.Lock()
			if d.tick == stop {
				d.draw(now)
			}
			d.mu.Unlock()
		}
	}
}

// draw rewrites the block's lines in one write: the cursor goes back up
// to the block's first line, and each line is cleared and written. Lines
// are cut to the terminal's width, so that none wraps (a wrapped line
// would throw the count of lines to go back up).
func (d *Display) draw(now time.Time) {
	width := d.width()
	if width <= 0 {
		width = 80 // the terminal went away mid-block (the agent's client)
	}
	var b strings.Builder
	if d.drawn > 0 {
		b.WriteString("\x1b[" + strconv.Itoa(d.drawn) + "A")
	}
	for _, t := range d.block {
		b.WriteString("\r\x1b[2K")
		b.WriteString(fit(t.line(now), width-1))
		b.WriteByte('\n')
	}
	d.drawn = len(d.block)
	_, _ = io.WriteString(d.w, b.String())
}

// line is the task's line at now.
func (t *Task) line(now time.Time) string {
	head := "flyte: " + t.label + "..."
	switch t.state {
	case done:
		return head + " done in " + Seconds(t.took)
	case failed:
		return head + " failed after " + Seconds(t.took)
	case stopped:
		return head + " stopped after " + Seconds(t.took)
	}
	elapsed := now.Sub(t.start)
	if t.expect <= 0 {
		return head + " " + Seconds(elapsed)
	}
	return head + " " + Bar(elapsed, t.expect) + " " + Seconds(elapsed)
}

// Bar is the bar and percentage of a task that has run for elapsed out
// of an expected total: "[#########           ]  45%". It stays below
// 100% until the task is done, however long it takes.
func Bar(elapsed, expect time.Duration) string {
	pct := 0
	if expect > 0 && elapsed > 0 {
		pct = int(min(99, elapsed*100/expect))
	}
	full := pct * barWidth / 100
	return "[" + strings.Repeat("#", full) + strings.Repeat(" ", barWidth-full) + "] " + fmt.Sprintf("%3d%%", pct)
}

// Seconds formats a duration for a progress line: "0.4s", "12.3s",
// "2m05s".
func Seconds(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	if d < time.Minute {
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	}
	s := int(d / time.Second)
	return fmt.Sprintf("%dm%02ds", s/60, s%60)
}

// fit cuts s to at most n runes.
func fit(s string, n int) string {
	if n < 1 {
		n = 1
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

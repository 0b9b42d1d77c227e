package config

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// BurntSushi/toml does not say where a key or a value is, so that messages can point at it this file
// scans the text itself: locate returns, for each key, table, array-of-tables entry and array element
// of the text, where it starts. It runs only on text that toml has already decoded, and only to place
// an error; on anything else it stops early or finds less, never fails: a position it cannot find is
// simply left out of the message.

// where is where something is in the text, as byte offsets: its key's last part (for an array element
// or a table from an array of tables, the element or the header) and its value.
type where struct{ key, value int }

// loc names a place in the decoded tree: keys and array indices (from 0), as the decoder walks it.
type loc string

// at builds the loc of parts, each a key (string) or an index (int).
func at(parts ...any) loc {
	var b strings.Builder
	for _, p := range parts {
		switch v := p.(type) {
		case string:
			b.WriteString(strconv.Quote(v))
		case int:
			b.WriteString(strconv.Itoa(v))
		case loc:
			b.WriteString(string(v))
			continue
		}
		b.WriteByte('/')
	}
	return loc(b.String())
}

// keyLoc is at for a toml.Key.
func keyLoc(key []string) loc {
	parts := make([]any, len(key))
	for i, k := range key {
		parts[i] = k
	}
	return at(parts...)
}

// maxDepth bounds nesting (arrays in arrays), so that hostile text cannot exhaust the stack; toml itself
// refuses far less.
const maxDepth = 64

type locator struct {
	text   string
	i      int
	found  map[loc]where
	tables map[loc]int // an array of tables (by its loc, indices resolved) -> entries seen
}

// locate scans text (toml's input, BOM removed) and returns where each place in it is. The first
// definition of a place wins.
func locate(text string) map[loc]where {
	l := &locator{text: text, found: map[loc]where{}, tables: map[loc]int{}}
	var table loc // the current table: "" for the top level
	for l.i < len(l.text) {
		start := l.i
		l.space(true)
		if l.i >= len(l.text) {
			break
		}
		switch {
		case strings.HasPrefix(l.text[l.i:], "[["):
			l.i += 2
			table = l.header(true)
		case l.text[l.i] == '[':
			l.i++
			table = l.header(false)
		default:
			l.keyValue(table, 0)
		}
		l.skipLine()
		if l.i == start {
			break // no progress: not TOML this scanner understands
		}
	}
	return l.found
}

// note records w for p unless p was seen before.
func (l *locator) note(p loc, w where) {
	if _, ok := l.found[p]; !ok {
		l.found[p] = w
	}
}

// header reads a table header after its opening bracket(s) and returns the table's loc. Each part that
// names an array of tables stands for its last entry, as in TOML.
func (l *locator) header(array bool) loc {
	l.space(false)
	parts, starts := l.key()
	if len(parts) == 0 {
		return ""
	}
	var p loc
	for n, part := range parts {
		p = at(p, part)
		last := n == len(parts)-1
		if last && array {
			count := l.tables[p]
			l.tables[p] = count + 1
			l.note(p, where{starts[n], starts[n]})
			p = at(p, count)
		} else if count, ok := l.tables[p]; ok {
			p = at(p, count-1)
		}
		l.note(p, where{starts[n], starts[n]})
	}
	return p
}

// keyValue reads "key = value" in table.
func (l *locator) keyValue(table loc, depth int) {
	parts, starts := l.key()
	if len(parts) == 0 {
		return
	}
	l.space(false)
	if l.i >= len(l.text) || l.text[l.i] != '=' {
		return
	}
	l.i++
	l.space(false)
	p := table
	for n, part := range parts[:len(parts)-1] {
		p = at(p, part)
		l.note(p, where{starts[n], starts[n]})
	}
	p = at(p, parts[len(parts)-1])
	l.note(p, where{starts[len(starts)-1], l.i})
	l.value(p, depth)
}

// key reads a dotted key and returns its parts, decoded, with the offset each starts at.
func (l *locator) key() (parts []string, starts []int) {
	for {
		l.space(false)
		if l.i >= len(l.text) {
			return parts, starts
		}
		start := l.i
		var part string
		switch c := l.text[l.i]; {
		case c == '"':
			part = l.basicString()
		case c == '\'':
			part = l.literalString()
		case isBare(c):
			for l.i < len(l.text) && isBare(l.text[l.i]) {
				l.i++
			}
			part = l.text[start:l.i]
		default:
			return parts, starts
		}
		parts, starts = append(parts, part), append(starts, start)
		l.space(false)
		if l.i >= len(l.text) || l.text[l.i] != '.' {
			return parts, starts
		}
		l.i++
	}
}

func isBare(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// value skips the value at l.i, noting the elements of arrays and the keys of inline tables under p.
func (l *locator) value(p loc, depth int) {
	if l.i >= len(l.text) || depth > maxDepth {
		return
	}
	switch {
	case strings.HasPrefix(l.text[l.i:], `"""`):
		l.multiline(`"""`)
	case strings.HasPrefix(l.text[l.i:], `'''`):
		l.multiline(`'''`)
	case l.text[l.i] == '"':
		l.basicString()
	case l.text[l.i] == '\'':
		l.literalString()
	case l.text[l.i] == '[':
		l.i++
		for n := 0; ; n++ {
			l.space(true)
			if l.i >= len(l.text) || l.text[l.i] == ']' {
				break
			}
			e := at(p, n)
			l.note(e, where{l.i, l.i})
			start := l.i
			l.value(e, depth+1)
			if !l.after(']') || l.i == start {
				break
			}
		}
		l.close(']')
	case l.text[l.i] == '{':
		l.i++
		for {
			l.space(true)
			if l.i >= len(l.text) || l.text[l.i] == '}' {
				break
			}
			start := l.i
			l.keyValue(p, depth+1)
			if !l.after('}') || l.i == start {
				break
			}
		}
		l.close('}')
	default:
		l.scalar()
	}
}

// after moves past what follows an element of an array or inline table: the rest of a date-time
// written with a space, then a comma; false at the closing bracket or anything unexpected.
func (l *locator) after(closing byte) bool {
	for {
		l.space(true)
		if l.i >= len(l.text) {
			return false
		}
		switch l.text[l.i] {
		case ',':
			l.i++
			return true
		case closing:
			return false
		case '[', '{', '"', '\'', ']', '}', '=':
			return false
		}
		start := l.i
		l.scalar()
		if l.i == start {
			return false
		}
	}
}

// close moves past the closing bracket, if it is there.
func (l *locator) close(closing byte) {
	if l.i < len(l.text) && l.text[l.i] == closing {
		l.i++
	}
}

// scalar skips a number, boolean or date-time part.
func (l *locator) scalar() {
	for l.i < len(l.text) && !strings.ContainsRune(",]}#= \t\r\n", rune(l.text[l.i])) {
		l.i++
	}
}

// space skips blanks, and also newlines and comments when lines is true.
func (l *locator) space(lines bool) {
	for l.i < len(l.text) {
		switch l.text[l.i] {
		case ' ', '\t':
			l.i++
		case '\r', '\n':
			if !lines {
				return
			}
			l.i++
		case '#':
			if !lines {
				return
			}
			l.skipLine()
		default:
			return
		}
	}
}

// skipLine moves to the start of the next line.
func (l *locator) skipLine() {
	if n := strings.IndexByte(l.text[l.i:], '\n'); n >= 0 {
		l.i += n + 1
	} else {
		l.i = len(l.text)
	}
}

// literalString reads '...' and returns its contents.
func (l *locator) literalString() string {
	l.i++
	n := strings.IndexAny(l.text[l.i:], "'\n")
	if n < 0 {
		l.i = len(l.text)
		return ""
	}
	s := l.text[l.i : l.i+n]
	l.i += n + 1
	return s
}

// basicString reads "..." and returns its contents with escapes decoded (an escape it cannot decode
// gives a string no key will match).
func (l *locator) basicString() string {
	l.i++
	var b strings.Builder
	for l.i < len(l.text) {
		c := l.text[l.i]
		switch {
		case c == '"':
			l.i++
			return b.String()
		case c == '\n':
			return "\x00"
		case c == '\\' && l.i+1 < len(l.text):
			l.i += 2
			switch e := l.text[l.i-1]; e {
			case 'b':
				b.WriteByte('\b')
			case 't':
				b.WriteByte('\t')
			case 'n':
				b.WriteByte('\n')
			case 'f':
				b.WriteByte('\f')
			case 'r':
				b.WriteByte('\r')
			case 'e':
				b.WriteByte(0x1b)
			case '"', '\\':
				b.WriteByte(e)
			case 'x', 'u', 'U':
				n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
				if l.i+n > len(l.text) {
					return "\x00"
				}
				r, err := strconv.ParseUint(l.text[l.i:l.i+n], 16, 32)
				if err != nil || !utf8.ValidRune(rune(r)) {
					return "\x00"
				}
				b.WriteRune(rune(r))
				l.i += n
			default:
				return "\x00"
			}
		default:
			b.WriteByte(c)
			l.i++
		}
	}
	return "\x00"
}

// multiline skips a multi-line string opened by quotes, with up to two more quotes before its end.
func (l *locator) multiline(quotes string) {
	l.i += 3
	for l.i < len(l.text) {
		switch {
		case quotes == `"""` && l.text[l.i] == '\\':
			l.i += 2
		case strings.HasPrefix(l.text[l.i:], quotes):
			l.i += 3
			for extra := 0; extra < 2 && l.i < len(l.text) && l.text[l.i] == quotes[0]; extra++ {
				l.i++
			}
			return
		default:
			l.i++
		}
	}
	l.i = len(l.text)
}

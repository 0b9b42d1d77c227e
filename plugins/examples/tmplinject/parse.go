package tmplinject

import (
	"strconv"
	"strings"

	"github.com/flytesecrets/flyte/abi"
)

// Parse parses a template into the parts of one output. ref maps a secret
// key named in the template to the reference the host knows it by.
// Errors name the line and column, never the text found there.
//
// Grammar (between {{ and }}; spaces separate tokens):
//
//	pipeline = term { "|" transform }
//	term     = "secret" STRING | STRING | "concat" term { term } | "(" pipeline ")"
//
// STRING is double-quoted, with the escapes \\ \" \n and \t.
func Parse(text string, ref func(key string) (uint32, error)) ([]abi.Part, error) {
	if len(text) > maxInput {
		return nil, abi.Errorf(abi.TooLarge, "the template is over ", strconv.Itoa(maxInput>>10), " KiB")
	}
	p := parser{s: text, line: 1, ref: ref}
	var parts []abi.Part
	for p.i < len(p.s) {
		j := strings.Index(p.s[p.i:], "{{")
		if j < 0 {
			j = len(p.s) - p.i
		}
		if j > 0 {
			if err := p.literal(&parts, p.s[p.i:p.i+j]); err != nil {
				return nil, err
			}
			p.advance(j)
		}
		if p.i == len(p.s) {
			break
		}
		open := p.pos()
		p.advance(2)
		part, err := p.pipeline(1)
		if err != nil {
			return nil, err
		}
		p.space()
		if !strings.HasPrefix(p.s[p.i:], "}}") {
			if p.i == len(p.s) {
				return nil, open.errorf("an action is not closed with }}")
			}
			return nil, p.pos().errorf("expected | or }}")
		}
		p.advance(2)
		if err := p.add(&parts, part); err != nil {
			return nil, err
		}
	}
	return parts, nil
}

type parser struct {
	s         string
	i         int
	line, col int // of s[i], col counted from 0
	ref       func(string) (uint32, error)
	count     int // parts so far
	text      int // literal bytes so far
}

type position struct{ line, col int }

func (q position) errorf(msg ...string) error {
	m := "line " + strconv.Itoa(q.line) + ", column " + strconv.Itoa(q.col+1) + ": "
	for _, s := range msg {
		m += s
	}
	return abi.Errorf(abi.InvalidArgument, m)
}

func (p *parser) pos() position { return position{p.line, p.col} }

func (p *parser) advance(n int) {
	for _, c := range []byte(p.s[p.i : p.i+n]) {
		if c == '\n' {
			p.line, p.col = p.line+1, 0
		} else {
			p.col++
		}
	}
	p.i += n
}

func (p *parser) space() {
	n := 0
	for p.i+n < len(p.s) {
		switch p.s[p.i+n] {
		case ' ', '\t', '\n', '\r':
			n++
			continue
		}
		break
	}
	p.advance(n)
}

// add appends a part, merging adjacent literal text.
func (p *parser) add(parts *[]abi.Part, part abi.Part) error {
	if n := len(*parts); n > 0 && isText(&part) && isText(&(*parts)[n-1]) {
		last := &(*parts)[n-1]
		last.Text = append(last.Text[:len(last.Text):len(last.Text)], part.Text...)
		return nil
	}
	p.count++
	if p.count > MaxParts {
		return p.pos().errorf("the template has more than ", strconv.Itoa(MaxParts), " parts")
	}
	*parts = append(*parts, part)
	return nil
}

func isText(p *abi.Part) bool { return p.Ref == 0 && p.Parts == nil && p.Transforms == nil }

func (p *parser) literal(parts *[]abi.Part, s string) error {
	p.text += len(s)
	if p.text > MaxText {
		return p.pos().errorf("the template has more than ", strconv.Itoa(MaxText>>10), " KiB of text")
	}
	return p.add(parts, abi.Part{Text: []byte(s)})
}

func (p *parser) word() string {
	n := 0
	for p.i+n < len(p.s) {
		c := p.s[p.i+n]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			break
		}
		n++
	}
	w := p.s[p.i : p.i+n]
	p.advance(n)
	return w
}

var transforms = map[string]abi.Transform{
	"base64": abi.Base64Encode, "base64decode": abi.Base64Decode, "json": abi.JSONString, "urlescape": abi.URLEscape,
}

func (p *parser) pipeline(depth int) (abi.Part, error) {
	part, err := p.term(depth)
	if err != nil {
		return part, err
	}
	for {
		p.space()
		if p.i == len(p.s) || p.s[p.i] != '|' {
			return part, nil
		}
		p.advance(1)
		p.space()
		at := p.pos()
		t, ok := transforms[p.word()]
		if !ok {
			return part, at.errorf("unknown transform (the transforms are base64, base64decode, json and urlescape)")
		}
		if len(part.Transforms) >= MaxTransforms {
			return part, at.errorf("more than ", strconv.Itoa(MaxTransforms), " transforms on one value")
		}
		part.Transforms = append(part.Transforms, t)
	}
}

func (p *parser) term(depth int) (abi.Part, error) {
	p.space()
	at := p.pos()
	if p.i == len(p.s) {
		return abi.Part{}, at.errorf("an action is not closed with }}")
	}
	switch c := p.s[p.i]; {
	case c == '"':
		s, err := p.str()
		if err != nil {
			return abi.Part{}, err
		}
		p.text += len(s)
		if p.text > MaxText {
			return abi.Part{}, at.errorf("the template has more than ", strconv.Itoa(MaxText>>10), " KiB of text")
		}
		return abi.Part{Text: []byte(s)}, nil
	case c == '(':
		p.advance(1)
		part, err := p.pipeline(depth)
		if err != nil {
			return part, err
		}
		p.space()
		if p.i == len(p.s) || p.s[p.i] != ')' {
			return part, p.pos().errorf("expected )")
		}
		p.advance(1)
		return part, nil
	}
	switch p.word() {
	case "secret":
		p.space()
		kat := p.pos()
		if p.i == len(p.s) || p.s[p.i] != '"' {
			return abi.Part{}, kat.errorf("secret needs a quoted key, as in secret \"db_password\"")
		}
		key, err := p.str()
		if err != nil {
			return abi.Part{}, err
		}
		if !validKey(key) {
			return abi.Part{}, kat.errorf("a secret name that is not a valid key (letters, digits, - and _)")
		}
		r, err := p.ref(key)
		if err != nil {
			return abi.Part{}, kat.errorf(err.Error())
		}
		return abi.Part{Ref: r}, nil
	case "concat":
		if depth > MaxDepth {
			return abi.Part{}, at.errorf("concat is nested more than ", strconv.Itoa(MaxDepth), " deep")
		}
		var part abi.Part
		for {
			p.space()
			if p.i == len(p.s) || p.s[p.i] == '|' || p.s[p.i] == ')' || strings.HasPrefix(p.s[p.i:], "}}") {
				break
			}
			arg, err := p.term(depth + 1)
			if err != nil {
				return part, err
			}
			if err := p.add(&part.Parts, arg); err != nil {
				return part, err
			}
		}
		if len(part.Parts) == 0 {
			return part, at.errorf("concat needs at least one term")
		}
		return part, nil
	}
	return abi.Part{}, at.errorf("expected secret, concat, a quoted string or (")
}

// str reads a double-quoted string.
func (p *parser) str() (string, error) {
	at := p.pos()
	var b []byte
	for j := p.i + 1; j < len(p.s); j++ {
		switch c := p.s[j]; c {
		case '"':
			p.advance(j + 1 - p.i)
			return string(b), nil
		case '\n':
			return "", at.errorf("a string is not closed on its line")
		case '\\':
			j++
			if j == len(p.s) {
				return "", at.errorf("a string is not closed")
			}
			switch p.s[j] {
			case '\\', '"':
				b = append(b, p.s[j])
			case 'n':
				b = append(b, '\n')
			case 't':
				b = append(b, '\t')
			default:
				return "", at.errorf("unknown escape in a string (use \\\\, \\\", \\n or \\t)")
			}
		default:
			b = append(b, c)
		}
	}
	return "", at.errorf("a string is not closed")
}

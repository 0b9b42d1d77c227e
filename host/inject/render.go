package inject

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/envname"
	"github.com/flytesecrets/flyte/host/mask"
	"github.com/flytesecrets/flyte/host/sanitize"
	"github.com/flytesecrets/flyte/host/secretfile"
)

// Limits on what an injector's RENDER answer may hold (abi/SPEC.md, 7.1).
const (
	// MaxRenderDepth bounds how deeply parts nest: an output's own parts
	// are depth 1.
	MaxRenderDepth = 8
	// MaxRenderParts bounds the parts of one injector's answer, at every
	// depth.
	MaxRenderParts = 4096
	// MaxRenderText bounds the literal text of one output.
	MaxRenderText = 64 << 10
	// MaxTransforms bounds the transforms of one part.
	MaxTransforms = 8
	// MaxMaskBytes bounds the rendered forms of secrets that one task's
	// outputs give the masker, so that a template cannot make the masker
	// of a task unboundedly large.
	MaxMaskBytes = 2 * MaxFileBytes
)

// maxMaskBytes is MaxMaskBytes, smaller in tests.
var maxMaskBytes = MaxMaskBytes

// Output is one rendered output the user declared ([[environments.render]]
// in flyte.toml): a file or a variable, filled by an injector from a
// template of literal text and the secrets Refs names. Its name and mode
// are the user's; the injector only sends the template.
type Output struct {
	// File is a base name directly under abi.SecretsDir; Env a variable.
	// Exactly one is set.
	File string
	Env  string
	// Mode is File's mode; 0 means DefaultMode.
	Mode fs.FileMode
	// Injector renders the output.
	Injector string
	// Refs are the secrets the output may use, as indices into the task's
	// secrets.
	Refs []int
}

// Name is where the output goes: the file's path, or the variable.
func (o *Output) Name() string {
	if o.File != "" {
		return abi.SecretsDir + "/" + o.File
	}
	return o.Env
}

// Render asks each injector that renders one of outs (in name order) for
// its templates, then renders them with the secrets' values. The RENDER
// request names each output by an ID, tells the injector which secrets it
// may use (by Ref, as PLAN does: never a value) and nothing it could change:
// the name and the mode of each output stay the user's. Every answer is
// checked as a whole (abi/SPEC.md, 7.1) before anything is rendered, and any
// error refuses the whole plan. load returns the named injector; the caller
// makes sure it speaks RENDER.
//
// The result has every rendered form of a secret, for each part whose
// subtree holds a reference (its value before and after each transform)
// and each whole output that holds one, in one of two lists (see Applied):
// in Mask a form rendered from secrets alone, such as a secret's value
// base64-decoded or JSON-escaped, to be masked with its lines; in
// MaskWhole a form that joins literal text with secrets, such as a whole
// config file, to be masked whole only, since a line of it may be the
// template's text alone. A form joining literal text with secrets of fewer
// than mask.MinLen bytes in all is not masked at all: it would be mostly,
// or only (an empty secret), text the injector chose. The secrets' own
// values are not repeated (the caller masks those already).
func Render(ctx context.Context, task abi.Task, secrets []Secret, outs []Output, load func(name string) (Injector, error)) (*Applied, error) {
	if err := checkOutputs(task, secrets, outs); err != nil {
		return nil, err
	}
	byInjector := map[string][]int{}
	for j, o := range outs {
		byInjector[o.Injector] = append(byInjector[o.Injector], j)
	}
	names := make([]string, 0, len(byInjector))
	for n := range byInjector {
		names = append(names, n)
	}
	sort.Strings(names)
	r := &renderer{secrets: secrets, outs: outs, applied: &Applied{}, seen: map[[32]byte]formKind{}}
	for _, s := range secrets {
		r.seen[sha256.Sum256(s.Value)] = formFull // masked as secrets already
	}
	for _, name := range names {
		inj, err := load(name)
		if err != nil {
			r.applied.Wipe()
			return nil, err
		}
		req := renderRequest(task, secrets, outs, byInjector[name])
		out, err := inj.Call(ctx, abi.OpRender, abi.Marshal(req))
		if err != nil {
			r.applied.Wipe()
			var se *abi.StatusError
			if errors.As(err, &se) {
				return nil, &PlanError{Injector: name, Msg: "refused to render: " + se.Message}
			}
			return nil, err
		}
		var plan abi.RenderPlan
		if err := abi.Unmarshal(out, &plan); err != nil {
			r.applied.Wipe()
			return nil, &PlanError{Injector: name, Msg: "sent a malformed render plan"}
		}
		if err := r.add(name, req, &plan); err != nil {
			r.applied.Wipe()
			return nil, err
		}
	}
	return r.applied, nil
}

// checkOutputs checks what the user declared, as the configuration did when
// it loaded: the rules are applied again here so that no caller can pass
// an output the configuration would refuse.
func checkOutputs(task abi.Task, secrets []Secret, outs []Output) error {
	for _, o := range outs {
		msg := ""
		switch {
		case (o.File == "") == (o.Env == ""):
			msg = "an output must be one file or one variable"
		case o.File != "" && !secretfile.ValidName(o.File):
			msg = "an output's file must lie directly under " + abi.SecretsDir
		case o.File != "" && !secretfile.ValidMode(uint32(o.Mode)):
			msg = fmt.Sprintf("output %s has mode %04o: the widest allowed is %04o", o.Name(), uint32(o.Mode), MaxMode)
		case o.Env != "" && !envname.Valid(o.Env):
			msg = "an output's variable name is not valid"
		case o.Env != "" && o.Mode != 0:
			msg = "output " + o.Env + " is a variable, which has no mode"
		case len(o.Refs) == 0:
			msg = "output " + o.Name() + " uses no secret"
		}
		if o.Env != "" && msg == "" {
			if _, why, denied := envname.Denied(o.Env); denied {
				msg = "output " + o.Env + " is a variable flyte never sets: " + why
			}
		}
		for _, i := range o.Refs {
			if msg == "" && (i < 0 || i >= len(secrets)) {
				msg = "output " + o.Name() + " uses a secret the task does not have"
			}
		}
		if msg != "" {
			return &RequestError{Environment: task.Environment, Msg: msg}
		}
	}
	return nil
}

// renderRequest is the RENDER request for the outputs mine (indices into
// outs): the secrets they may use, each once, and the outputs, with IDs
// that are their index in outs plus one.
func renderRequest(task abi.Task, secrets []Secret, outs []Output, mine []int) *abi.RenderRequest {
	req := &abi.RenderRequest{Task: task}
	used := make([]bool, len(secrets))
	for _, j := range mine {
		o := outs[j]
		or := abi.OutputRequest{ID: uint32(j + 1), File: o.File, Env: o.Env}
		for _, i := range o.Refs {
			or.Refs = append(or.Refs, uint32(i+1))
			used[i] = true
		}
		req.Outputs = append(req.Outputs, or)
	}
	for i, s := range secrets {
		if used[i] {
			req.Secrets = append(req.Secrets, abi.SecretRequest{
				Ref: uint32(i + 1), Key: s.Key, Group: s.Group, Kind: s.Kind, AsEnvVar: s.AsEnvVar,
				Mount: s.Mount, Scope: s.Scope, Size: uint32(len(s.Value)),
			})
		}
	}
	return req
}

// renderer renders the answers of the injectors of one task.
type renderer struct {
	secrets   []Secret
	outs      []Output
	applied   *Applied
	fileBytes int
	maskBytes int
	seen      map[[32]byte]formKind // digests of the forms in the result and of the secrets' values
}

// formKind is how a rendered form is masked.
type formKind uint8

const (
	// formWhole: as a whole (Applied.MaskWhole), for a form that joins
	// literal text with secrets.
	formWhole formKind = iota + 1
	// formFull: with its lines (Applied.Mask), for a form rendered from
	// secrets alone. It covers formWhole.
	formFull
)

// holds is what a rendered value was made of.
type holds struct {
	refs    []uint32 // the refs of its subtree, in order
	literal bool     // some literal text went into it
	secret  int      // bytes of secret values that went into it
}

func (h *holds) add(o holds) {
	h.refs = append(h.refs, o.refs...)
	h.literal = h.literal || o.literal
	h.secret += o.secret
}

// kind is how a value made of h is masked, or 0 if it is not.
func (h holds) kind() formKind {
	switch {
	case len(h.refs) == 0:
		return 0
	case !h.literal:
		return formFull
	case h.secret >= mask.MinLen:
		return formWhole
	}
	return 0
}

// add checks one injector's answer to req as a whole, then renders it.
func (r *renderer) add(name string, req *abi.RenderRequest, plan *abi.RenderPlan) error {
	bad := func(format string, args ...any) error {
		return &PlanError{Injector: name, Msg: "bad render: " + sanitize.Text(fmt.Sprintf(format, args...))}
	}
	asked := map[uint32]*abi.OutputRequest{}
	for i := range req.Outputs {
		asked[req.Outputs[i].ID] = &req.Outputs[i]
	}
	sent := map[uint32]bool{}
	for _, s := range req.Secrets {
		sent[s.Ref] = true
	}
	answers := map[uint32]*abi.Output{}
	parts := 0
	for i := range plan.Outputs {
		o := &plan.Outputs[i]
		or, ok := asked[o.ID]
		if !ok {
			return bad("answers output #%d, which it was not asked to render", o.ID)
		}
		out := &r.outs[o.ID-1]
		if answers[o.ID] != nil {
			return bad("answers output %s twice", out.Name())
		}
		answers[o.ID] = o
		c := &checker{bad: bad, out: out, secrets: r.secrets, refs: or.Refs, sent: sent, count: &parts}
		if err := c.parts(o.Parts, 1); err != nil {
			return err
		}
	}
	for _, or := range req.Outputs {
		if answers[or.ID] == nil {
			return bad("leaves out output %s", r.outs[or.ID-1].Name())
		}
	}
	for _, or := range req.Outputs { // in the user's order
		if err := r.render(bad, &r.outs[or.ID-1], answers[or.ID]); err != nil {
			return err
		}
	}
	return nil
}

// checker checks the structure of one output's template before anything is
// rendered: refs, depth, counts, sizes and transforms.
type checker struct {
	bad     func(format string, args ...any) error
	out     *Output
	secrets []Secret
	refs    []uint32        // the refs routed to the output
	sent    map[uint32]bool // the refs the request named
	count   *int            // parts of the injector's whole answer
	text    int             // literal text of the output
}

func (c *checker) parts(ps []abi.Part, depth int) error {
	if len(ps) > 0 && depth > MaxRenderDepth {
		return c.bad("output %s nests parts more than %d deep", c.out.Name(), MaxRenderDepth)
	}
	for i := range ps {
		p := &ps[i]
		if *c.count++; *c.count > MaxRenderParts {
			return c.bad("has more than %d parts", MaxRenderParts)
		}
		n := 0
		for _, set := range []bool{len(p.Text) > 0, p.Ref != 0, len(p.Parts) > 0} {
			if set {
				n++
			}
		}
		if n > 1 {
			return c.bad("output %s: a part has more than one of text, ref and parts", c.out.Name())
		}
		if len(p.Transforms) > MaxTransforms {
			return c.bad("output %s: a part has more than %d transforms", c.out.Name(), MaxTransforms)
		}
		for _, t := range p.Transforms {
			if t < abi.Base64Encode || t > abi.URLEscape {
				return c.bad("output %s: unknown transform %d", c.out.Name(), uint32(t))
			}
		}
		if c.text += len(p.Text); c.text > MaxRenderText {
			return c.bad("output %s has more than %d bytes of literal text", c.out.Name(), MaxRenderText)
		}
		if p.Ref != 0 {
			routed := false
			for _, ref := range c.refs {
				routed = routed || ref == p.Ref
			}
			switch {
			case routed:
			case c.sent[p.Ref] || int(p.Ref) <= len(c.secrets):
				return c.bad("uses secret %s, which is not routed to output %s", c.secrets[p.Ref-1].Key, c.out.Name())
			default:
				return c.bad("references secret #%d, which the task did not ask for", p.Ref)
			}
		}
		if err := c.parts(p.Parts, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// render renders the checked template o of out and adds it, and its forms
// to mask, to the result.
func (r *renderer) render(bad func(string, ...any) error, out *Output, o *abi.Output) error {
	limit, what := MaxEnvValue, "the most a variable holds"
	if out.File != "" {
		limit, what = MaxFileBytes-r.fileBytes, fmt.Sprintf("what is left of the %d bytes a task's files may hold", MaxFileBytes)
	}
	v := &valuer{r: r, bad: bad, out: out, limit: limit, what: what}
	value, h, err := v.join(o.Parts)
	if err != nil {
		return err
	}
	if err := r.mask(bad, out, value, h.kind()); err != nil {
		clear(value)
		return err
	}
	r.applied.owned = append(r.applied.owned, value)
	if out.Env != "" {
		if bytes.IndexByte(value, 0) >= 0 {
			return bad("output %s renders a NUL byte, which a variable cannot hold", out.Name())
		}
		r.applied.Env = append(r.applied.Env, EnvVar{Name: out.Env, Value: value})
		return nil
	}
	mode := out.Mode
	if mode == 0 {
		mode = DefaultMode
	}
	r.fileBytes += len(value)
	r.applied.Files = append(r.applied.Files, File{Name: out.File, Mode: mode, Value: value})
	return nil
}

// mask adds form, a rendered form of secrets, to the result's Mask or
// MaskWhole (as kind says; 0 adds nothing), unless it is masked so already.
func (r *renderer) mask(bad func(string, ...any) error, out *Output, form []byte, kind formKind) error {
	sum := sha256.Sum256(form)
	if kind == 0 || r.seen[sum] >= kind {
		return nil
	}
	if r.maskBytes += len(form); r.maskBytes > maxMaskBytes {
		return bad("output %s renders more forms of secrets than flyte can mask (%d bytes)", out.Name(), maxMaskBytes)
	}
	r.seen[sum] = kind
	c := bytes.Clone(form)
	r.applied.owned = append(r.applied.owned, c)
	if kind == formFull {
		r.applied.Mask = append(r.applied.Mask, c)
	} else {
		r.applied.MaskWhole = append(r.applied.MaskWhole, c)
	}
	return nil
}

// valuer computes the values of one output's parts.
type valuer struct {
	r     *renderer
	bad   func(string, ...any) error
	out   *Output
	limit int    // the most bytes any value may have
	what  string // what limit is, for messages
}

func (v *valuer) tooLarge() error {
	return v.bad("output %s renders more than %d bytes, %s", v.out.Name(), v.limit, v.what)
}

// join returns the parts' values joined, in a new buffer, and what went
// into them.
func (v *valuer) join(ps []abi.Part) ([]byte, holds, error) {
	var out []byte
	var h holds
	for i := range ps {
		b, ph, err := v.part(&ps[i])
		if err != nil {
			clear(out)
			return nil, holds{}, err
		}
		if len(out)+len(b) > v.limit {
			clear(out)
			clear(b)
			return nil, holds{}, v.tooLarge()
		}
		out = append(out, b...)
		clear(b)
		h.add(ph)
	}
	if out == nil {
		out = []byte{}
	}
	return out, h, nil
}

// part returns p's value after its transforms, in a new buffer, and what
// went into it. The value of a subtree that holds a ref goes to the mask
// before and after each transform (see holds.kind).
func (v *valuer) part(p *abi.Part) ([]byte, holds, error) {
	var val []byte
	var h holds
	switch {
	case p.Ref != 0:
		s := v.r.secrets[p.Ref-1].Value
		if len(s) > v.limit {
			return nil, holds{}, v.tooLarge()
		}
		val, h = bytes.Clone(s), holds{refs: []uint32{p.Ref}, secret: len(s)}
	case len(p.Parts) > 0:
		var err error
		if val, h, err = v.join(p.Parts); err != nil {
			return nil, holds{}, err
		}
	default:
		val, h = bytes.Clone(p.Text), holds{literal: len(p.Text) > 0}
	}
	for i := 0; ; i++ {
		if err := v.r.mask(v.bad, v.out, val, h.kind()); err != nil {
			clear(val)
			return nil, holds{}, err
		}
		if i == len(p.Transforms) {
			return val, h, nil
		}
		next, err := v.transform(p.Transforms[i], val, p.Ref != 0, h.refs)
		clear(val)
		if err != nil {
			return nil, holds{}, err
		}
		val = next
	}
}

// transform applies t to val into a new buffer, within the limit.
func (v *valuer) transform(t abi.Transform, val []byte, direct bool, refs []uint32) ([]byte, error) {
	var n int
	switch t {
	case abi.Base64Encode:
		n = base64.StdEncoding.EncodedLen(len(val))
	case abi.Base64Decode:
		n = base64.StdEncoding.DecodedLen(len(val))
	case abi.JSONString:
		if !utf8.Valid(val) {
			return nil, v.bad("output %s: %s is not valid UTF-8, which a JSON string cannot hold", v.out.Name(), v.subject(direct, refs))
		}
		n = jsonStringLen(val)
	case abi.URLEscape:
		n = urlEscapeLen(val)
	}
	if n > v.limit {
		return nil, v.tooLarge()
	}
	switch t {
	case abi.Base64Encode:
		return base64.StdEncoding.AppendEncode(make([]byte, 0, n), val), nil
	case abi.Base64Decode:
		out, err := base64.StdEncoding.AppendDecode(make([]byte, 0, n), val)
		if err != nil {
			clear(out)
			return nil, v.bad("output %s: %s is not valid base64", v.out.Name(), v.subject(direct, refs))
		}
		return out, nil
	case abi.JSONString:
		return appendJSONString(make([]byte, 0, n), val), nil
	default:
		return appendURLEscape(make([]byte, 0, n), val), nil
	}
}

// subject names a value for messages: a secret's (direct), or one built
// from the secrets refs, or from literal text alone.
func (v *valuer) subject(direct bool, refs []uint32) string {
	var keys []string
	for _, ref := range refs {
		if k := v.r.secrets[ref-1].Key; !containsString(keys, k) {
			keys = append(keys, k)
		}
	}
	switch {
	case direct:
		return "secret " + keys[0]
	case len(keys) == 0:
		return "literal text"
	case len(keys) == 1:
		return "the value built from secret " + keys[0]
	}
	return "the value built from secrets " + strings.Join(keys, ", ")
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Hex digits: upper case for percent-encoding (RFC 3986, section 2.1), lower
// case in JSON escapes, as encoders commonly write them.
const (
	hexDigits = "0123456789ABCDEF"
	lowerHex  = "0123456789abcdef"
)

// jsonEscape is the escape of each byte that RFC 8259, section 7, requires
// escaped, where it has a short one; the other control characters are
// written \u00XX.
var jsonEscape = map[byte]string{'"': `\"`, '\\': `\\`, '\b': `\b`, '\f': `\f`, '\n': `\n`, '\r': `\r`, '\t': `\t`}

// jsonStringLen is the length of appendJSONString's output for s.
func jsonStringLen(s []byte) int {
	n := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case jsonEscape[c] != "":
			n += 2
		case c < 0x20:
			n += 6
		case c == 0xe2 && i+2 < len(s) && s[i+1] == 0x80 && (s[i+2] == 0xa8 || s[i+2] == 0xa9):
			n += 6
			i += 2
		default:
			n++
		}
	}
	return n
}

// appendJSONString appends s, valid UTF-8, escaped for the inside of a JSON
// string (RFC 8259, section 7), without quotes: '"', '\\' and the control
// characters, and also U+2028 and U+2029, which JavaScript does not allow
// raw in a string.
func appendJSONString(dst, s []byte) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case jsonEscape[c] != "":
			dst = append(dst, jsonEscape[c]...)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', lowerHex[c>>4], lowerHex[c&0xf])
		case c == 0xe2 && i+2 < len(s) && s[i+1] == 0x80 && (s[i+2] == 0xa8 || s[i+2] == 0xa9):
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[s[i+2]-0xa0])
			i += 2
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// unreserved reports whether c is one of RFC 3986's unreserved characters.
func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

func urlEscapeLen(s []byte) int {
	n := 0
	for _, c := range s {
		if unreserved(c) {
			n++
		} else {
			n += 3
		}
	}
	return n
}

// appendURLEscape appends s with every byte but RFC 3986's unreserved
// characters percent-encoded (upper-case hex).
func appendURLEscape(dst, s []byte) []byte {
	for _, c := range s {
		if unreserved(c) {
			dst = append(dst, c)
		} else {
			dst = append(dst, '%', hexDigits[c>>4], hexDigits[c&0xf])
		}
	}
	return dst
}

package abi

// Messages of the render op (OpRender, since 1.2). The user declares each
// rendered output in flyte.toml (a file under SecretsDir or a variable, the
// injector that renders it, the secrets it may use); the injector answers
// with a template for each output: literal text, references to secrets and
// host-applied transforms. The host renders it; the injector never sees a
// value, a file name or a variable name it could change. SPEC.md, section 7.1.

// Transform is a host-applied transformation of a Part's value.
type Transform uint32

// Transforms. Their numeric values are part of the ABI.
const (
	// Base64Encode is standard base64 with padding (RFC 4648, section 4).
	Base64Encode Transform = 1
	// Base64Decode decodes standard base64 with padding; input that is
	// not valid base64 fails the render.
	Base64Decode Transform = 2
	// JSONString escapes for the inside of a JSON string (RFC 8259,
	// section 7), without the quotes; U+2028 and U+2029 are escaped too.
	JSONString Transform = 3
	// URLEscape percent-encodes every byte except RFC 3986's unreserved
	// characters.
	URLEscape Transform = 4
)

// String names the transform as templates and messages spell it.
func (t Transform) String() string {
	switch t {
	case Base64Encode:
		return "base64"
	case Base64Decode:
		return "base64decode"
	case JSONString:
		return "json"
	case URLEscape:
		return "urlescape"
	}
	return "unknown"
}

// OutputRequest is one output the user declared for this injector: a file
// (a name under SecretsDir) or a variable, and the Refs of the secrets it
// may use. ID names it in the answer and is never 0.
type OutputRequest struct {
	ID   uint32
	File string
	Env  string
	Refs []uint32
}

// MarshalTo implements Message.
func (m *OutputRequest) MarshalTo(e *Encoder) {
	e.Uint(1, uint64(m.ID))
	e.String(2, m.File)
	e.String(3, m.Env)
	for _, r := range m.Refs {
		e.key(4, wireVarint)
		e.buf = appendUvarint(e.buf, uint64(r))
	}
}

// UnmarshalFrom implements Message.
func (m *OutputRequest) UnmarshalFrom(d *Decoder) {
	for d.Next() {
		switch d.Field() {
		case 1:
			m.ID = d.Uint32()
		case 2:
			m.File = d.String()
		case 3:
			m.Env = d.String()
		case 4:
			m.Refs = append(m.Refs, d.Uint32())
		}
	}
}

// RenderRequest is the input of OpRender: the task, the secrets routed to
// the injector (as in PlanRequest) and the outputs it renders.
type RenderRequest struct {
	Task    Task
	Secrets []SecretRequest
	Outputs []OutputRequest
}

// MarshalTo implements Message.
func (m *RenderRequest) MarshalTo(e *Encoder) {
	e.Message(1, &m.Task)
	for i := range m.Secrets {
		e.Message(2, &m.Secrets[i])
	}
	for i := range m.Outputs {
		e.Message(3, &m.Outputs[i])
	}
}

// UnmarshalFrom implements Message.
func (m *RenderRequest) UnmarshalFrom(d *Decoder) {
	for d.Next() {
		switch d.Field() {
		case 1:
			d.Message(&m.Task)
		case 2:
			m.Secrets = append(m.Secrets, SecretRequest{})
			d.Message(&m.Secrets[len(m.Secrets)-1])
		case 3:
			m.Outputs = append(m.Outputs, OutputRequest{})
			d.Message(&m.Outputs[len(m.Outputs)-1])
		}
	}
}

// Part is one piece of a template: exactly one of Text, Ref and Parts
// (none is empty text). Ref is a SecretRequest.Ref; Parts are joined.
// Transforms apply in order to the part's value.
type Part struct {
	Text       []byte
	Ref        uint32
	Parts      []Part
	Transforms []Transform
}

// MarshalTo implements Message.
func (m *Part) MarshalTo(e *Encoder) {
	e.Blob(1, m.Text)
	e.Uint(2, uint64(m.Ref))
	for i := range m.Parts {
		e.Message(3, &m.Parts[i])
	}
	for _, t := range m.Transforms {
		e.key(4, wireVarint)
		e.buf = appendUvarint(e.buf, uint64(t))
	}
}

// UnmarshalFrom implements Message.
func (m *Part) UnmarshalFrom(d *Decoder) {
	for d.Next() {
		switch d.Field() {
		case 1:
			m.Text = d.Blob()
		case 2:
			m.Ref = d.Uint32()
		case 3:
			m.Parts = append(m.Parts, Part{})
			d.Message(&m.Parts[len(m.Parts)-1])
		case 4:
			m.Transforms = append(m.Transforms, Transform(d.Uint32()))
		}
	}
}

// Output is the template for one OutputRequest, named by its ID. The file
// name or variable and the mode are the user's, never the injector's.
type Output struct {
	ID    uint32
	Parts []Part
}

// MarshalTo implements Message.
func (m *Output) MarshalTo(e *Encoder) {
	e.Uint(1, uint64(m.ID))
	for i := range m.Parts {
		e.Message(2, &m.Parts[i])
	}
}

// UnmarshalFrom implements Message.
func (m *Output) UnmarshalFrom(d *Decoder) {
	for d.Next() {
		switch d.Field() {
		case 1:
			m.ID = d.Uint32()
		case 2:
			m.Parts = append(m.Parts, Part{})
			d.Message(&m.Parts[len(m.Parts)-1])
		}
	}
}

// RenderPlan is the output of OpRender: one Output per OutputRequest.
type RenderPlan struct {
	Outputs []Output
}

// MarshalTo implements Message.
func (m *RenderPlan) MarshalTo(e *Encoder) {
	for i := range m.Outputs {
		e.Message(1, &m.Outputs[i])
	}
}

// UnmarshalFrom implements Message.
func (m *RenderPlan) UnmarshalFrom(d *Decoder) {
	for d.Next() {
		if d.Field() == 1 {
			m.Outputs = append(m.Outputs, Output{})
			d.Message(&m.Outputs[len(m.Outputs)-1])
		}
	}
}

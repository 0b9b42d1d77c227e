package abi

// Messages of the http capability (HTTPModule, since 1.2). The guest builds
// an HTTPRequest; the host checks it against the plugin's grant, sends it,
// and answers with an HTTPResponse (any HTTP status, 5xx included) or a
// non-OK status with a host-written ErrorMessage. SPEC.md, section 2.4.

// HTTPHeader is one header line. Value is bytes: it may hold a credential
// the guest read through the capability.
type HTTPHeader struct {
	Name  string
	Value []byte
}

// MarshalTo implements Message.
func (m *HTTPHeader) MarshalTo(e *Encoder) {
	e.String(1, m.Name)
	e.Blob(2, m.Value)
}

// UnmarshalFrom implements Message.
func (m *HTTPHeader) UnmarshalFrom(d *Decoder) {
	for d.Next() {
		switch d.Field() {
		case 1:
			m.Name = d.String()
		case 2:
			m.Value = d.Blob()
		}
	}
}

// HTTPRequest is the input of the http capability's request import.
// TimeoutMS 0 means the grant's request_timeout and MaxResponse 0 the
// grant's max_response; larger values than the grant's are lowered to it.
type HTTPRequest struct {
	Method      string
	URL         string
	Headers     []HTTPHeader
	Body        []byte
	TimeoutMS   uint32
	MaxResponse uint32
}

// MarshalTo implements Message.
func (m *HTTPRequest) MarshalTo(e *Encoder) {
	e.String(1, m.Method)
	e.String(2, m.URL)
	for i := range m.Headers {
		e.Message(3, &m.Headers[i])
	}
	e.Blob(4, m.Body)
	e.Uint(5, uint64(m.TimeoutMS))
	e.Uint(6, uint64(m.MaxResponse))
}

// UnmarshalFrom implements Message.
func (m *HTTPRequest) UnmarshalFrom(d *Decoder) {
	for d.Next() {
		switch d.Field() {
		case 1:
			m.Method = d.String()
		case 2:
			m.URL = d.String()
		case 3:
			m.Headers = append(m.Headers, HTTPHeader{})
			d.Message(&m.Headers[len(m.Headers)-1])
		case 4:
			m.Body = d.Blob()
		case 5:
			m.TimeoutMS = d.Uint32()
		case 6:
			m.MaxResponse = d.Uint32()
		}
	}
}

// HTTPResponse is the result of a request the server answered. URL is the
// final URL after any redirects the grant allowed; TimeLeftMS is what is
// left of the guest's call when the response was read.
type HTTPResponse struct {
	Status     uint32
	Headers    []HTTPHeader
	Body       []byte
	URL        string
	TimeLeftMS uint32
}

// MarshalTo implements Message.
func (m *HTTPResponse) MarshalTo(e *Encoder) {
	e.Uint(1, uint64(m.Status))
	for i := range m.Headers {
		e.Message(2, &m.Headers[i])
	}
	e.Blob(3, m.Body)
	e.String(4, m.URL)
	e.Uint(5, uint64(m.TimeLeftMS))
}

// UnmarshalFrom implements Message.
func (m *HTTPResponse) UnmarshalFrom(d *Decoder) {
	for d.Next() {
		switch d.Field() {
		case 1:
			m.Status = d.Uint32()
		case 2:
			m.Headers = append(m.Headers, HTTPHeader{})
			d.Message(&m.Headers[len(m.Headers)-1])
		case 3:
			m.Body = d.Blob()
		case 4:
			m.URL = d.String()
		case 5:
			m.TimeLeftMS = d.Uint32()
		}
	}
}

// Header returns the first value of the named header (ASCII
// case-insensitive), or nil.
func (m *HTTPResponse) Header(name string) []byte {
	for _, h := range m.Headers {
		if equalFold(h.Name, name) {
			return h.Value
		}
	}
	return nil
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

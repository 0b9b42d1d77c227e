package agent

import (
	"encoding/json"
	"errors"
	"reflect"

	"github.com/flytesecrets/flyte/host/scope"
	"github.com/flytesecrets/flyte/host/secrets"
)

// Error is an error as it travels from the agent to the client: its
// message, the hint the CLI would print for it (the first Hint in its
// chain), whether it is a misuse of the command line (exit 2), and, for
// the errors the CLI inspects to add its own hints, their kind and fields.
// The client thus prints exactly what an in-process command prints.
type Error struct {
	Msg     string
	Hint    string          `json:",omitempty"`
	HasHint bool            `json:",omitempty"`
	Usage   bool            `json:",omitempty"`
	Kind    string          `json:",omitempty"`
	Fields  json.RawMessage `json:",omitempty"`
	// Cause is a LockedError's Err.
	Cause *Error `json:",omitempty"`
}

// kinds are the typed errors that travel with their fields: those the CLI
// looks for with errors.As.
var kinds = map[string]reflect.Type{
	"exists":          reflect.TypeFor[secrets.ExistsError](),
	"notfound":        reflect.TypeFor[secrets.NotFoundError](),
	"missing":         reflect.TypeFor[secrets.MissingError](),
	"locked":          reflect.TypeFor[secrets.LockedError](),
	"conflict":        reflect.TypeFor[secrets.ConflictError](),
	"kindchange":      reflect.TypeFor[secrets.KindChangeError](),
	"kindunsupported": reflect.TypeFor[secrets.KindUnsupportedError](),
	"notrecipient":    reflect.TypeFor[secrets.NotRecipientError](),
	"fence":           reflect.TypeFor[secrets.FenceError](),
}

// kindTooLarge is the kind of the error an agent sends for an answer over
// MaxFrame: the client works in-process instead (Call's UnavailableError).
const kindTooLarge = "toolarge"

// maxCause bounds the nesting of causes a decoded error may have.
const maxCause = 4

// encodeError is err as it travels.
func encodeError(err error) *Error {
	return encodeDepth(err, 0)
}

func encodeDepth(err error, depth int) *Error {
	e := &Error{Msg: err.Error()}
	var h interface{ Hint() string }
	if errors.As(err, &h) {
		e.Hint, e.HasHint = h.Hint(), true
	}
	var ie *scope.InvalidError
	e.Usage = errors.As(err, &ie)
	// The outermost error of a known kind carries its fields.
	for x := err; x != nil; x = errors.Unwrap(x) {
		t := reflect.TypeOf(x)
		if t.Kind() != reflect.Pointer {
			continue
		}
		for name, kt := range kinds {
			if t.Elem() != kt {
				continue
			}
			if l, ok := x.(*secrets.LockedError); ok {
				if l.Err != nil && depth < maxCause {
					e.Cause = encodeDepth(l.Err, depth+1)
				}
				c := *l
				c.Err = nil
				x = &c
			}
			if b, err := json.Marshal(x); err == nil {
				e.Kind, e.Fields = name, b
			}
			return e
		}
	}
	return e
}

// RemoteError is an error the agent sent: its message, and the typed
// error it carried, if any (Unwrap), for errors.As.
type RemoteError struct {
	Msg string
	// Usage says the error is a misuse of the command line (exit 2).
	Usage bool
	typed error
}

func (e *RemoteError) Error() string { return e.Msg }
func (e *RemoteError) Unwrap() error { return e.typed }

// remoteHint is a RemoteError with a hint.
type remoteHint struct {
	*RemoteError
	hint string
}

func (e *remoteHint) Hint() string  { return e.hint }
func (e *remoteHint) Unwrap() error { return e.RemoteError }

// decode is the error e describes.
func (e *Error) decode() error {
	return e.decodeDepth(0)
}

func (e *Error) decodeDepth(depth int) error {
	r := &RemoteError{Msg: e.Msg, Usage: e.Usage}
	if kt, ok := kinds[e.Kind]; ok {
		p := reflect.New(kt)
		if json.Unmarshal(e.Fields, p.Interface()) == nil {
			if l, ok := p.Interface().(*secrets.LockedError); ok {
				l.Err = &RemoteError{Msg: e.Msg} // never nil: its Error reads it
				if e.Cause != nil && depth < maxCause {
					l.Err = e.Cause.decodeDepth(depth + 1)
				}
			}
			r.typed = p.Interface().(error)
		}
	}
	if e.HasHint {
		return &remoteHint{RemoteError: r, hint: e.Hint}
	}
	return r
}

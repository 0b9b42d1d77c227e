// Package dockercfg builds the docker config JSON that an image_pull secret
// holds, {"auths": {REGISTRY: {"auth": base64(USER:PASSWORD)}}}, as flyte-sdk
// does: from a registry, a username and a password, or from the auth
// entries of a docker config file (~/.docker/config.json).
//
// A docker config file is a file someone else wrote (docker login, a
// dotfiles repository, a CI image): it is read with a size bound, only its
// "auths" entries' "auth" fields are used, and no error quotes anything
// from it. A registry name or username the user gives that fails
// validation is not quoted either.
package dockercfg

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/flytesecrets/flyte/host/safefile"
)

// MaxFile bounds the docker config file read; a larger one is refused.
const MaxFile = 1 << 20

// MaxName bounds a registry name and a username.
const MaxName = 255

// DefaultPath is the docker config file docker itself reads:
// $DOCKER_CONFIG/config.json, else ~/.docker/config.json, as in flyte-sdk.
// It returns "" when neither variable is set.
func DefaultPath(getenv func(string) string) string {
	if d := getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, "config.json")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".docker", "config.json")
	}
	return ""
}

// Errors a parse returns. None quotes the file.
var (
	ErrTooLarge   = fmt.Errorf("the docker config is larger than %d bytes", MaxFile)
	ErrNotObject  = errors.New("the docker config is not a JSON object")
	ErrBadAuths   = errors.New(`the docker config's "auths" is not an object of objects`)
	ErrNoAuths    = errors.New(`the docker config has no "auth" entry under "auths"`)
	ErrBadAuth    = errors.New(`an "auth" entry in the docker config is not base64 of USER:PASSWORD`)
	ErrHelperOnly = errors.New("the docker config keeps its credentials in a credential helper (credsStore or credHelpers), which flyte does not run")
	ErrBadName    = errors.New(`a registry name under the docker config's "auths" is not a host name such as ghcr.io (use --registries to pick the ones to keep)`)
)

// SyntaxError says where the docker config stops being JSON, by offset only.
type SyntaxError struct{ Offset int64 }

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("the docker config is not valid JSON (at byte %d)", e.Offset)
}

// MissingError says that a registry the user named has no usable auth
// entry. Registry is the user's own, validated word.
type MissingError struct {
	Registry string
	Helper   bool // the file names a credential helper for it (or for all)
}

func (e *MissingError) Error() string {
	if e.Helper {
		return "the credentials for registry " + e.Registry + " are kept by a docker credential helper (credsStore or credHelpers), which flyte does not run"
	}
	return "the docker config has no \"auth\" entry for registry " + e.Registry
}

// InvalidError says a registry name, username or password given on the
// command line breaks a rule. It never holds the value.
type InvalidError struct {
	What string // "registry", "username", "password"
	Rule string
}

func (e *InvalidError) Error() string { return "invalid " + e.What + ": " + e.Rule }

// ValidateRegistry checks a registry name as docker writes it: a host name
// with an optional port and path ("ghcr.io", "localhost:5000",
// "gcr.io/project"), or a URL of one ("https://index.docker.io/v1/").
func ValidateRegistry(r string) error {
	bad := &InvalidError{What: "registry", Rule: "must be a host name such as ghcr.io, with an optional :PORT, /PATH or https:// (letters, digits, '.', '-', '_', ':', '/'; at most 255 characters)"}
	if r == "" || len(r) > MaxName {
		return bad
	}
	host := r
	for _, scheme := range []string{"https://", "http://"} {
		host = strings.TrimPrefix(host, scheme)
	}
	if host == "" || !isAlnum(host[0]) {
		return bad
	}
	for i := 0; i < len(host); i++ {
		if c := host[i]; !isAlnum(c) && !strings.ContainsRune(".-_:/", rune(c)) {
			return bad
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// ValidateUsername checks a registry username: not empty, at most 255
// bytes, no ':' (the auth field splits USER:PASSWORD at the first one) and
// no control character.
func ValidateUsername(u string) error {
	if u == "" || len(u) > MaxName || strings.ContainsRune(u, ':') || hasControl(u) {
		return &InvalidError{What: "username", Rule: "must be 1 to 255 characters, without ':' or control characters"}
	}
	return nil
}

// ValidatePassword checks a registry password or token: not empty and no
// line break (a prompt or a pipe ends it there).
func ValidatePassword(p []byte) error {
	if len(p) == 0 || bytes.ContainsAny(p, "\r\n") {
		return &InvalidError{What: "password", Rule: "must not be empty or contain a line break"}
	}
	return nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

// FromCredentials returns {"auths": {registry: {"auth": base64(username:password)}}}
// in flyte-sdk's layout. The caller validated the three.
func FromCredentials(registry, username string, password []byte) []byte {
	cred := make([]byte, 0, len(username)+1+len(password))
	cred = append(append(append(cred, username...), ':'), password...)
	defer clear(cred)
	return build([]string{registry}, map[string]string{registry: base64.StdEncoding.EncodeToString(cred)})
}

// build writes the auths in the order of registries, as Python's
// json.dumps does: `{"auths": {"R": {"auth": "A"}}}`.
func build(registries []string, auth map[string]string) []byte {
	var b bytes.Buffer
	b.WriteString(`{"auths": {`)
	for i, r := range registries {
		if i > 0 {
			b.WriteString(", ")
		}
		name, _ := json.Marshal(r) // a string always marshals
		b.Write(name)
		b.WriteString(`: {"auth": "`)
		b.WriteString(auth[r]) // base64: nothing to escape
		b.WriteString(`"}`)
	}
	b.WriteString("}}")
	return b.Bytes()
}

// ReadFile reads a docker config file: a regular file of at most MaxFile
// bytes. Errors name neither the path nor the content. It never blocks:
// the file is opened without waiting for a writer (a FIFO) and anything
// but a regular file is refused before a byte is read.
func ReadFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("cannot read the docker config: %w", safefile.Bare(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cannot read the docker config: %w", safefile.Bare(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("cannot read the docker config: it is " + safefile.Kind(fi.Mode()) + ", not a regular file")
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFile+1))
	if err != nil {
		clear(data)
		return nil, fmt.Errorf("cannot read the docker config: %w", safefile.Bare(err))
	}
	if len(data) > MaxFile {
		clear(data)
		return nil, ErrTooLarge
	}
	return data, nil
}

// FromConfig builds the docker config JSON of an image_pull secret from a
// docker config file's content: the "auth" entries of the registries named
// (each must have one), or of every registry that has one when none is
// named. Registries must have passed ValidateRegistry.
func FromConfig(data []byte, registries []string) ([]byte, error) {
	if len(data) > MaxFile {
		return nil, ErrTooLarge
	}
	var file struct {
		Auths       json.RawMessage `json:"auths"`
		CredsStore  json.RawMessage `json:"credsStore"`
		CredHelpers json.RawMessage `json:"credHelpers"`
	}
	if err := decode(data, &file); err != nil {
		return nil, err
	}
	var auths map[string]struct {
		Auth *string `json:"auth"`
	}
	if len(file.Auths) > 0 && string(file.Auths) != "null" {
		if err := json.Unmarshal(file.Auths, &auths); err != nil {
			return nil, ErrBadAuths
		}
	}
	// Which registries a credential helper serves, only to say so when
	// one has no auth entry; a malformed helper table is just no helper.
	var helpers map[string]json.RawMessage
	_ = json.Unmarshal(file.CredHelpers, &helpers)
	var store string
	_ = json.Unmarshal(file.CredsStore, &store)
	helper := func(r string) bool {
		_, ok := helpers[r]
		return ok || store != ""
	}
	out := map[string]string{}
	check := func(r, a string) error {
		v, err := base64.StdEncoding.DecodeString(a)
		defer clear(v)
		if err != nil || !bytes.Contains(v, []byte{':'}) {
			return ErrBadAuth
		}
		// Re-encoded, not copied: DecodeString skips CR and LF, which
		// copied raw would break the JSON built from it.
		out[r] = base64.StdEncoding.EncodeToString(v)
		return nil
	}
	if len(registries) == 0 {
		for r, e := range auths {
			if e.Auth == nil || *e.Auth == "" {
				continue
			}
			if ValidateRegistry(r) != nil {
				return nil, ErrBadName
			}
			if err := check(r, *e.Auth); err != nil {
				return nil, err
			}
			registries = append(registries, r)
		}
		if len(registries) == 0 {
			if helper("") || len(helpers) > 0 {
				return nil, ErrHelperOnly
			}
			return nil, ErrNoAuths
		}
		slices.Sort(registries)
		return build(registries, out), nil
	}
	var named []string
	for _, r := range registries {
		if _, dup := out[r]; dup {
			continue
		}
		e, ok := auths[r]
		if !ok || e.Auth == nil || *e.Auth == "" {
			return nil, &MissingError{Registry: r, Helper: helper(r)}
		}
		if err := check(r, *e.Auth); err != nil {
			return nil, err
		}
		named = append(named, r)
	}
	return build(named, out), nil
}

// decode unmarshals one JSON object, reporting a syntax error by offset
// only: encoding/json's messages quote the offending character.
func decode(data []byte, v any) error {
	if !json.Valid(data) {
		var se *json.SyntaxError
		var probe any
		if err := json.Unmarshal(data, &probe); errors.As(err, &se) {
			return &SyntaxError{Offset: se.Offset}
		}
		return &SyntaxError{Offset: int64(len(data))}
	}
	if err := json.Unmarshal(data, v); err != nil {
		return ErrNotObject
	}
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return ErrNotObject
	}
	return nil
}

// Sensitive returns the parts of an image_pull secret's docker config JSON
// that a task must not be able to print: each "auth" string, its decoded
// USER:PASSWORD and the PASSWORD alone. A value that is not such JSON has
// none (the whole value is masked anyway). The caller clears the slices.
func Sensitive(value []byte) [][]byte {
	var v struct {
		Auths map[string]struct {
			Auth string `json:"auth"`
		} `json:"auths"`
	}
	if json.Unmarshal(value, &v) != nil {
		return nil
	}
	var out [][]byte
	for _, e := range v.Auths {
		if e.Auth == "" {
			continue
		}
		out = append(out, []byte(e.Auth))
		d, err := base64.StdEncoding.DecodeString(e.Auth)
		if err != nil {
			continue
		}
		out = append(out, d)
		if i := bytes.IndexByte(d, ':'); i >= 0 && i+1 < len(d) {
			out = append(out, d[i+1:])
		}
	}
	return out
}

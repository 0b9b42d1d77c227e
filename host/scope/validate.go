package scope

import (
	"errors"
	"strconv"
	"strings"
)

// MaxKeyLen is the longest secret key accepted, in bytes (keys are ASCII, so also in characters).
const MaxKeyLen = 128

// The patterns are spelled out in messages so that users see the exact rule; the checks themselves are
// hand-written loops (keyByte, validName) that the tests compare against these regular expressions.
const (
	keyPattern  = `^[-a-zA-Z0-9_]+$`
	namePattern = `^[a-z0-9][-a-z0-9_]{0,62}$`
	maxNameLen  = 63
)

// InvalidError reports a name or key that breaks a rule. The CLI finds it with errors.As to exit with
// the usage status (2) rather than a runtime failure.
//
// It never holds the rejected string: a key or a project name typed in the wrong place may be a secret
// value, so errors say what was wrong, where, and the rule, never what was given.
type InvalidError struct {
	What   string // what was checked: "secret key", "project name", "organization name", "domain", ...
	Where  string // where it was given, such as "-p/--project" or "argument KEY"; "" if not known
	Reason string // the rule it breaks, such as "must match ^[-a-zA-Z0-9_]+$" or "is empty"

	// unknown selects "unknown" instead of "invalid": the value is not malformed, just not one of a
	// configured set (domains).
	unknown bool
}

// Error returns one line such as `invalid secret key (argument KEY): must match ^[-a-zA-Z0-9_]+$` or
// `secret key is empty`.
func (e *InvalidError) Error() string {
	what := e.What
	if e.Where != "" {
		what += " (" + e.Where + ")"
	}
	if e.Reason == "is empty" {
		return what + " " + e.Reason
	}
	adj := "invalid "
	if e.unknown {
		adj = "unknown "
	}
	return adj + what + ": " + e.Reason
}

// At sets where an *InvalidError in err was given, unless it says so already, and returns err.
func At(err error, where string) error {
	var ie *InvalidError
	if errors.As(err, &ie) && ie.Where == "" {
		ie.Where = where
	}
	return err
}

// ValidateKey checks a secret key: non-empty, only ASCII letters, digits, '-' and '_' (the key becomes a
// file name under /etc/flyte/secrets, so '/', '.' and spaces must never pass), and at most MaxKeyLen long.
func ValidateKey(key string) error {
	if key == "" {
		return &InvalidError{What: "secret key", Reason: "is empty"}
	}
	for i := 0; i < len(key); i++ {
		if !keyByte(key[i]) {
			return &InvalidError{What: "secret key", Reason: "must match " + keyPattern}
		}
	}
	// Checked after the characters so that the byte length is also the character count.
	if len(key) > MaxKeyLen {
		return &InvalidError{What: "secret key", Reason: "longer than " + strconv.Itoa(MaxKeyLen) + " characters"}
	}
	return nil
}

// ValidateProject checks a project name. "" is valid and means "not narrowed to a project".
func ValidateProject(p string) error {
	if p == "" {
		return nil
	}
	return ValidateName("project name", p)
}

// ValidateOrg checks an organization name, which unlike a project is always required.
func ValidateOrg(o string) error {
	return ValidateName("organization name", o)
}

// ValidateName checks any name that follows the project-name rule ^[a-z0-9][-a-z0-9_]{0,62}$
// (organizations, projects, configured domains, plugins). what names the thing in the error, such as
// "plugin name". An empty name is an error; callers for which "" means "none" check that first.
func ValidateName(what, name string) error {
	if name == "" {
		return &InvalidError{What: what, Reason: "is empty"}
	}
	if !validName(name) {
		return &InvalidError{What: what, Reason: "must match " + namePattern}
	}
	return nil
}

// ValidateDomain checks a domain against the configured ones. "" is valid and means "not narrowed to a
// domain". Domains are a closed set per configuration, so the message lists the valid ones.
func ValidateDomain(d string, allowed []string) error {
	if d == "" {
		return nil
	}
	for _, a := range allowed {
		if d == a {
			return nil
		}
	}
	reason := "no domains are configured"
	if len(allowed) > 0 {
		quoted := make([]string, len(allowed))
		for i, a := range allowed {
			quoted[i] = display(a)
		}
		reason = "valid domains are " + strings.Join(quoted, ", ")
	}
	return &InvalidError{What: "domain", Reason: reason, unknown: true}
}

// keyByte reports whether b may appear in a secret key.
func keyByte(b byte) bool {
	return b == '-' || b == '_' || '0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z'
}

// validName reports whether s matches namePattern.
func validName(s string) bool {
	if len(s) == 0 || len(s) > maxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case 'a' <= b && b <= 'z', '0' <= b && b <= '9':
		case (b == '-' || b == '_') && i > 0:
		default:
			return false
		}
	}
	return true
}

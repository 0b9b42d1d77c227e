// Package scope is the scope model of flyte: where a secret lives (organization, project, domain), which
// names are valid, and which scopes a task may read from.
//
// It is pure logic with no I/O so that the CLI, the host and the store adapters agree on one definition.
package scope

import "strconv"

// Scope says where a secret lives: the organization plus an optional project and an optional domain
// ("" = not narrowed).
type Scope struct {
	Org     string
	Project string
	Domain  string
}

// String describes the scope for people, without the organization (there is one per configuration):
// "organization", "project P", "domain D" or "project P, domain D".
func (s Scope) String() string {
	switch {
	case s.Project == "" && s.Domain == "":
		return "organization"
	case s.Domain == "":
		return "project " + display(s.Project)
	case s.Project == "":
		return "domain " + display(s.Domain)
	default:
		return "project " + display(s.Project) + ", domain " + display(s.Domain)
	}
}

// Candidates returns the scopes a task in (project, domain) may read from, most specific first:
// (P,D), (P,-), (-,D), (-,-). When project or domain is "", the entries needing it are left out, so the
// list never holds the same scope twice.
//
// The order is the lookup precedence: the first scope holding the key wins, so a narrower secret shadows
// a wider one of the same key.
func Candidates(org, project, domain string) []Scope {
	c := make([]Scope, 0, 4)
	if project != "" && domain != "" {
		c = append(c, Scope{Org: org, Project: project, Domain: domain})
	}
	if project != "" {
		c = append(c, Scope{Org: org, Project: project})
	}
	if domain != "" {
		c = append(c, Scope{Org: org, Domain: domain})
	}
	return append(c, Scope{Org: org})
}

// Includes reports whether a secret in s is visible to a task in (project, domain) of the organization
// org: every part s narrows must equal the task's, and a task outside any project or domain ("") sees
// only secrets that do not narrow that part.
func (s Scope) Includes(org, project, domain string) bool {
	return s.Org == org &&
		(s.Project == "" || s.Project == project) &&
		(s.Domain == "" || s.Domain == domain)
}

// display returns a name as is when it is made of name characters only, and quoted otherwise, so that an
// unvalidated scope can never put control characters or look-alike separators on a terminal.
func display(name string) string {
	if validName(name) {
		return name
	}
	return strconv.Quote(name)
}

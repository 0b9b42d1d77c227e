package etcdstore

import (
	"strconv"
	"strings"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/abi/guest"
)

// The gateway client: one POST of JSON to etcd's v3 gateway, tried on each
// endpoint in turn (starting with the one that last answered) until one
// answers, with the user's token when a user is configured.

const (
	// minAttemptMS is the least time left in the call worth another
	// endpoint: the host gives a request at most half of what is left.
	minAttemptMS = 100
	// maxRequests and maxReadBytes keep one call within the host's limits
	// (64 requests, 16 MiB of response bodies) with room to spare.
	maxRequests  = 48
	maxReadBytes = 12 << 20
	// maxReason bounds the words of etcd quoted in an error.
	maxReason = 160
)

// unknownOutcome is what a write that no endpoint confirmed says.
const unknownOutcome = "the write may or may not have been applied; check with flyte get secret"

// gateway talks to the etcd endpoints of the configuration.
type gateway struct {
	http      guest.HTTP
	timeLeft  func() uint32
	endpoints []string
	user      string
	// cur is the endpoint that last answered, tried first (a cache: an
	// instance may be replaced at any time).
	cur int
	// token is the user's, from /v3/auth/authenticate; noAuth records that
	// etcd said authentication is not enabled.
	token  []byte
	noAuth bool

	// Per call (reset by begin): the endpoints tried and why each failed,
	// whether a write may have been applied by one that failed, the
	// requests made and the bytes read.
	tried    []string
	maybe    bool
	requests int
	read     int
}

// begin starts one plugin call.
func (g *gateway) begin() {
	g.tried, g.maybe, g.requests, g.read = g.tried[:0], false, 0, 0
}

// exhausted reports whether the call should make no more requests.
func (g *gateway) exhausted() bool {
	return g.requests >= maxRequests || g.read >= maxReadBytes
}

// etcdError is an error answer of the gateway: {"error", "code", "message"}.
type etcdError struct {
	status uint32 // HTTP
	code   int64  // gRPC
	msg    string // printable, bounded
}

// gRPC codes the gateway reports.
const (
	grpcCanceled           = 1
	grpcUnknown            = 2
	grpcInvalidArgument    = 3
	grpcDeadlineExceeded   = 4
	grpcPermissionDenied   = 7
	grpcFailedPrecondition = 9
	grpcOutOfRange         = 11
	grpcUnavailable        = 14
	grpcUnauthenticated    = 16
)

// transient reports whether another endpoint may do better: the node is
// unavailable, has no leader, or timed out (etcd 3.4 answers a put that
// timed out with HTTP 500 and gRPC code 2 "context deadline exceeded").
func (e *etcdError) transient() bool {
	return e.status >= 500 || e.code == grpcUnavailable || e.code == grpcDeadlineExceeded || e.code == grpcCanceled
}

// printable keeps what can be quoted of a server's text: printable ASCII,
// at most maxReason bytes.
func printable(b []byte) string {
	out := make([]byte, 0, min(len(b), maxReason))
	for _, c := range b {
		if len(out) == maxReason {
			break
		}
		if c >= 0x20 && c < 0x7f {
			out = append(out, c)
		}
	}
	return string(out)
}

// parseError reads a gateway error body; ok is false when it is not one.
func parseError(status uint32, body []byte) (*etcdError, bool) {
	v, err := parseJSON(body)
	if err != nil || v.kind != jObj {
		return nil, false
	}
	code, ok1 := v.get("code").int64()
	msg, ok2 := v.get("message").text()
	if msg == "" {
		msg, ok2 = v.get("error").text()
	}
	if !ok1 || !ok2 || msg == "" {
		return nil, false
	}
	return &etcdError{status: status, code: code, msg: printable([]byte(msg))}, true
}

// who names the configured user in messages.
func (g *gateway) who() string {
	if g.user == "" {
		return "etcd refused the request: "
	}
	return "etcd refused user " + g.user + ": "
}

// failure turns a definite error answer into the store's error.
func (g *gateway) failure(e *etcdError) error {
	switch {
	case strings.Contains(e.msg, "request is too large"):
		return abi.Errorf(abi.TooLarge, "etcd refused the request as too large (hint: run etcd with --max-request-bytes of at least 10485760, 10 MiB)")
	case strings.Contains(e.msg, "user name is empty"):
		return abi.Errorf(abi.PermissionDenied, "etcd requires authentication (hint: set store.user and store.password_file in flyte.toml)")
	case e.code == grpcPermissionDenied:
		return abi.Errorf(abi.PermissionDenied, g.who(), "permission denied")
	case e.code == grpcUnauthenticated || strings.Contains(e.msg, "authentication failed"):
		return abi.Errorf(abi.PermissionDenied, g.who(), "authentication failed")
	case e.code == grpcInvalidArgument || e.code == grpcFailedPrecondition || e.code == grpcOutOfRange:
		return &codeError{abi.StatusError{Code: abi.InvalidArgument, Message: "etcd refused the request: " + e.msg}, e.code}
	}
	return abi.Errorf(abi.Internal, "etcd answered with an unexpected error (code ", strconv.FormatInt(e.code, 10), "): ", e.msg)
}

// codeError is an INVALID_ARGUMENT that keeps etcd's gRPC code, for the
// callers that expect one (compaction of a compacted revision).
type codeError struct {
	abi.StatusError
	code int64
}

func (e *codeError) Unwrap() error { return &e.StatusError }

// reasonOf shortens the host's message for a request to origin ep that
// failed: "http://h:p refused the connection" -> "connection refused".
func reasonOf(ep string, err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(strings.TrimPrefix(msg, ep), ":")
	msg = strings.TrimSpace(msg)
	switch {
	case msg == "refused the connection":
		return "connection refused"
	case strings.HasPrefix(msg, "no time was left"):
		return "no time left"
	case msg == "":
		return "failed"
	}
	return printable([]byte(msg))
}

// notSent reports whether a request that failed with the host's reason
// never reached the server, so that a write it carried was not applied.
func notSent(reason string) bool {
	return reason == "connection refused" || reason == "no time left" ||
		strings.Contains(reason, "no such host") || strings.Contains(reason, "certificate") || strings.Contains(reason, "TLS")
}

// unavailable is the error of a call whose every endpoint failed.
func (g *gateway) unavailable() error {
	msg := "etcd store unavailable: tried " + strings.Join(g.tried, ", ")
	if len(g.tried) == 0 {
		msg = "etcd store unavailable: no time was left to try " + strings.Join(g.endpoints, ", ")
	}
	if g.maybe {
		msg += "; " + unknownOutcome
	}
	return abi.Errorf(abi.Unavailable, msg)
}

// post sends body to path on the endpoints in turn and returns the decoded
// answer of the first that gives a definite one. write says the request
// may change the store (a txn or a put): when it fails in a way that may
// have applied it, the call's error says so. limit is the largest response
// accepted (0: the grant's).
func (g *gateway) post(path string, body []byte, write bool, limit uint32) (*jvalue, error) {
	n := len(g.endpoints)
	for i := 0; i < n; i++ {
		if g.exhausted() {
			break
		}
		if i > 0 && g.timeLeft() < minAttemptMS {
			break
		}
		k := (g.cur + i) % n
		v, err, next := g.try(g.endpoints[k], path, body, write, limit)
		if !next {
			if err == nil {
				g.cur = k
			}
			return v, err
		}
	}
	return nil, g.unavailable()
}

// try sends one request to ep, authenticating first when needed; next says
// the endpoint failed (its reason is in g.tried) and another may answer.
func (g *gateway) try(ep, path string, body []byte, write bool, limit uint32) (*jvalue, error, bool) {
	if g.user != "" && g.token == nil && !g.noAuth {
		if err, next := g.authenticate(ep); err != nil || next {
			return nil, err, next
		}
	}
	v, e, err, next := g.send(ep, path, body, write, limit)
	if e != nil && e.code == grpcUnauthenticated && g.user != "" && !g.noAuth {
		// The token expired (or this member restarted): authenticate
		// again, once, and resend.
		g.token = nil
		if err, next := g.authenticate(ep); err != nil || next {
			return nil, err, next
		}
		v, e, err, next = g.send(ep, path, body, write, limit)
	}
	if e != nil {
		return nil, g.failure(e), false
	}
	return v, err, next
}

// send makes one request. It returns the decoded answer, or etcd's
// definite error, or an error that ends the call, or next.
func (g *gateway) send(ep, path string, body []byte, write bool, limit uint32) (*jvalue, *etcdError, error, bool) {
	req := &abi.HTTPRequest{
		Method:      "POST",
		URL:         ep + path,
		Headers:     []abi.HTTPHeader{{Name: "Content-Type", Value: []byte("application/json")}},
		Body:        body,
		MaxResponse: limit,
	}
	if g.token != nil {
		req.Headers = append(req.Headers, abi.HTTPHeader{Name: "Authorization", Value: g.token})
	}
	g.requests++
	resp, err := g.http.Do(req)
	if err != nil {
		if abi.StatusOf(err) != abi.Unavailable {
			// Not granted, malformed, or over a limit: no other endpoint
			// does better (TOO_LARGE is the caller's to handle).
			return nil, nil, err, false
		}
		reason := reasonOf(ep, err)
		g.tried = append(g.tried, ep+" ("+reason+")")
		if write && !notSent(reason) {
			g.maybe = true
		}
		return nil, nil, nil, true
	}
	g.read += len(resp.Body)
	if resp.Status == 200 {
		v, err := parseJSON(resp.Body)
		if err == nil && v.kind == jObj {
			return v, nil, nil, false
		}
		g.tried = append(g.tried, ep+" (answered malformed JSON)")
		g.maybe = g.maybe || write
		return nil, nil, nil, true
	}
	e, ok := parseError(resp.Status, resp.Body)
	if !ok {
		g.tried = append(g.tried, ep+" (answered HTTP "+strconv.FormatUint(uint64(resp.Status), 10)+", not as etcd's v3 gateway does)")
		g.maybe = g.maybe || write && resp.Status >= 500
		return nil, nil, nil, true
	}
	if e.transient() {
		g.tried = append(g.tried, ep+" (answered: "+e.msg+")")
		g.maybe = g.maybe || write
		return nil, nil, nil, true
	}
	return nil, e, nil, false
}

// authenticate gets the user's token from ep.
func (g *gateway) authenticate(ep string) (error, bool) {
	pw, err := g.http.Credential("password")
	if err != nil {
		return abi.Errorf(abi.PermissionDenied, "etcd store: user ", g.user, " is configured, but no password was granted (hint: store.password_file)"), false
	}
	// A password file usually ends with a newline, which is not part of
	// the password.
	for len(pw) > 0 && (pw[len(pw)-1] == '\n' || pw[len(pw)-1] == '\r') {
		pw = pw[:len(pw)-1]
	}
	if !validText(pw) {
		return abi.Errorf(abi.PermissionDenied, "etcd store: the password file of user ", g.user, " is not UTF-8 text"), false
	}
	body := append([]byte(`{"name":`), appendString(nil, g.user)...)
	body = append(body, `,"password":`...)
	body = append(appendString(body, string(pw)), '}')
	v, e, err, next := g.send(ep, "/v3/auth/authenticate", body, false, 64<<10)
	switch {
	case err != nil || next:
		return err, next
	case e != nil && e.code == grpcFailedPrecondition && strings.Contains(e.msg, "not enabled"):
		g.noAuth = true
		return nil, false
	case e != nil && e.code == grpcInvalidArgument && strings.Contains(e.msg, "authentication failed"):
		return abi.Errorf(abi.PermissionDenied, g.who(), "authentication failed"), false
	case e != nil:
		return g.failure(e), false
	}
	tok, ok := v.get("token").text()
	if !ok || tok == "" || !validHeader(tok) {
		g.tried = append(g.tried, ep+" (answered malformed JSON)")
		return nil, true
	}
	g.token = []byte(tok)
	return nil, false
}

// validText reports whether b is UTF-8 without control characters.
func validText(b []byte) bool {
	s := string(b)
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0xFFFD {
			return false
		}
	}
	return true
}

// validHeader reports whether s may be sent as a header value.
func validHeader(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return len(s) <= 4096
}

// Package origin is what an origin is for the http capability and for the
// store's endpoints (abi/SPEC.md, section 2.4): scheme://host:port, written
// one way only. It imports nothing of flyte, so that both the configuration
// (host/config, for store.endpoints) and the capability (host/httpgrant)
// use the same rules.
package origin

import (
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Parse returns the canonical origin of s, which must be scheme://host[:port]
// with scheme http or https, optionally followed by "/": lower case, with
// its port. Nothing else is allowed (no user, path, query or fragment), and
// the host must be an ASCII name or an IP address. The error does not
// repeat s; it completes a sentence that names it ("origin #2 ...").
func Parse(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" || u.Host == "" {
		return "", errors.New("is not scheme://host:port")
	}
	if u.User != nil {
		return "", errors.New("holds a user name or password; they do not belong in an origin")
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", errors.New("has a path, query or fragment; an origin is only scheme://host:port")
	}
	return OfURL(u)
}

// OfURL returns the canonical origin of a parsed URL whose user information
// was refused; its path is not looked at.
func OfURL(u *url.URL) (string, error) {
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", errors.New("must start with https:// or http://")
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		if strings.HasSuffix(u.Host, ":") {
			return "", errors.New("has an empty port")
		}
		port = "443"
		if scheme == "http" {
			port = "80"
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port[0] == '0' {
		return "", errors.New("has a port that is not from 1 to 65535")
	}
	if strings.Contains(host, "%") {
		return "", errors.New("has an IPv6 zone")
	}
	if ip := net.ParseIP(host); ip != nil {
		if ip4 := ip.To4(); ip4 != nil {
			return scheme + "://" + ip4.String() + ":" + port, nil
		}
		return scheme + "://[" + ip.String() + "]:" + port, nil
	}
	host = strings.ToLower(host)
	if !hostName(host) {
		return "", errors.New("has a host that is not an ASCII host name (write an international name in its xn-- form)")
	}
	return scheme + "://" + host + ":" + port, nil
}

// hostName reports whether h is a DNS name: labels of letters, digits and
// '-', at most 253 bytes, not all digits (an IP address in another form).
func hostName(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	digits := true
	for _, l := range strings.Split(h, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			switch {
			case 'a' <= c && c <= 'z', c == '-', c == '_':
				digits = false
			case '0' <= c && c <= '9':
			default:
				return false
			}
		}
	}
	return !digits
}

// Plain reports whether the canonical origin o is plain http.
func Plain(o string) bool { return strings.HasPrefix(o, "http://") }

// Loopback reports whether the canonical origin o names the loopback
// interface: localhost, 127.0.0.0/8 or ::1. (The http client checks again
// the address it dials.)
func Loopback(o string) bool {
	u, err := url.Parse(o)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

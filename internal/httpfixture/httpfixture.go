// Package httpfixture runs real HTTP servers on the loopback interface for
// the tests of the http capability and for testscripts (httpserve): each
// behaves one way, well or badly, as its mode says.
package httpfixture

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultPassword is what an "auth" server accepts when its mode names none.
const DefaultPassword = "fixture-password"

// Modes lists the modes Start knows, for usage messages.
const Modes = "ok, echo, redirect:URL, big:N, slow, tls-untrusted, tls-ca, tls-client, auth[:PASSWORD]"

// Server is a running fixture.
type Server struct {
	// URL is the server's base URL: http://127.0.0.1:PORT, or https://
	// for the tls modes.
	URL string
	// CAFile is, in modes tls-ca and tls-client, a PEM file of the CA
	// certificate that makes the server trusted (0644, in a directory of
	// its own); else "".
	CAFile string
	// ClientCert and ClientKey are, in mode tls-client, the PEM files
	// (0644 and 0600, next to CAFile) of the certificate the server
	// requires of its clients, and of its private key.
	ClientCert, ClientKey string
	// Password is what an auth server accepts.
	Password string

	srv  *httptest.Server
	dir  string
	hits atomic.Int64
	done chan struct{}
	once sync.Once
}

// Start runs a server in mode:
//
//	ok             answers 200 "ok" to every request
//	echo           answers 200 with a JSON object of the request: method,
//	               path, query, headers (name to values) and body
//	redirect:URL   answers 302 to URL
//	big:N          answers 200 with N bytes of "x"
//	slow           never answers: each request waits until its client gives
//	               up (or the server closes)
//	tls-untrusted  answers 200 "ok" over TLS, with a certificate no one trusts
//	tls-ca         the same, with a certificate of a CA of its own, which
//	               it writes to CAFile
//	tls-client     the same, and answers only a client that presents the
//	               certificate it writes to ClientCert (key in ClientKey)
//	auth[:PASSWORD] answers a POST whose JSON body holds "password":
//	               PASSWORD (DefaultPassword when none is given) with 200
//	               {"token":"fixture-token"}, any other POST with 401, and
//	               anything else with 200 "ok", like etcd's
//	               /v3/auth/authenticate
func Start(mode string) (*Server, error) {
	s := &Server{done: make(chan struct{})}
	var h http.HandlerFunc
	kind, arg, _ := strings.Cut(mode, ":")
	isTLS := false
	switch kind {
	case "ok":
		h = ok
	case "echo":
		h = echo
	case "redirect":
		if arg == "" {
			return nil, errors.New("httpfixture: redirect needs a URL: redirect:URL")
		}
		h = func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, arg, http.StatusFound) }
	case "big":
		n, err := strconv.Atoi(arg)
		if err != nil || n < 0 {
			return nil, errors.New("httpfixture: big needs a size: big:N")
		}
		h = func(w http.ResponseWriter, _ *http.Request) {
			chunk := []byte(strings.Repeat("x", 4096))
			for left := n; left > 0; left -= len(chunk) {
				if _, err := w.Write(chunk[:min(left, len(chunk))]); err != nil {
					return
				}
			}
		}
	case "slow":
		h = func(_ http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-s.done:
			}
		}
	case "tls-untrusted", "tls-ca", "tls-client":
		h, isTLS = ok, true
	case "auth":
		s.Password = arg
		if arg == "" {
			s.Password = DefaultPassword
		}
		h = s.auth
	default:
		return nil, fmt.Errorf("httpfixture: unknown mode (known: %s)", Modes)
	}
	counted := func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h(w, r)
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(counted))
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // a client refusing the certificate is expected
	switch {
	case mode == "tls-ca" || mode == "tls-client":
		// A CA of its own: trusting it trusts this server only.
		ca, err := newCA()
		if err != nil {
			return nil, err
		}
		leaf, err := ca.issue(false)
		if err != nil {
			return nil, err
		}
		s.srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf}}
		var client tls.Certificate
		if mode == "tls-client" {
			if client, err = ca.issue(true); err != nil {
				return nil, err
			}
			pool := x509.NewCertPool()
			pool.AddCert(ca.cert)
			s.srv.TLS.ClientCAs, s.srv.TLS.ClientAuth = pool, tls.RequireAndVerifyClientCert
		}
		s.srv.StartTLS()
		if err := s.writeFiles(ca.cert.Raw, client); err != nil {
			s.Close()
			return nil, err
		}
	case isTLS:
		s.srv.StartTLS() // httptest's own certificate, which nothing trusts
	default:
		s.srv.Start()
	}
	s.URL = s.srv.URL
	return s, nil
}

// ca is a certificate authority of a fixture's own.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA() (*ca, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "httpfixture CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &ca{cert, key}, nil
}

// issue makes a certificate signed by the CA: a server's for 127.0.0.1,
// ::1 and localhost, or a client's.
func (c *ca) issue(client bool) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "httpfixture"},
		NotBefore: c.cert.NotBefore, NotAfter: c.cert.NotAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, DNSNames: []string{"localhost"},
	}
	if client {
		tmpl.ExtKeyUsage, tmpl.IPAddresses, tmpl.DNSNames = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil, nil
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// writeFiles writes the CA certificate (0644), and the client's
// certificate (0644) and key (0600) when there is one, to a 0755
// directory of their own, so that a plugin run by another user can be
// granted the CA.
func (s *Server) writeFiles(caDER []byte, client tls.Certificate) error {
	dir, err := os.MkdirTemp("", "httpfixture-ca-")
	if err != nil {
		return err
	}
	s.dir = dir
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	write := func(name, typ string, der []byte, mode os.FileMode) (string, error) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode); err != nil {
			return "", err
		}
		return p, os.Chmod(p, mode)
	}
	if s.CAFile, err = write("ca.pem", "CERTIFICATE", caDER, 0o644); err != nil || client.Certificate == nil {
		return err
	}
	if s.ClientCert, err = write("client.pem", "CERTIFICATE", client.Certificate[0], 0o644); err != nil {
		return err
	}
	key, err := x509.MarshalPKCS8PrivateKey(client.PrivateKey)
	if err != nil {
		return err
	}
	s.ClientKey, err = write("client.key", "PRIVATE KEY", key, 0o600)
	return err
}

// Hits is how many requests the server has received.
func (s *Server) Hits() int { return int(s.hits.Load()) }

// Close stops the server, ending the requests a slow server holds, and
// removes its CA file.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.done)
		s.srv.Close()
		if s.dir != "" {
			os.RemoveAll(s.dir)
		}
	})
}

func ok(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }

// Echoed is what an echo server answers.
type Echoed struct {
	Method  string              `json:"method"`
	Path    string              `json:"path"`
	Query   string              `json:"query"`
	Headers map[string][]string `json:"headers"`
	Body    string              `json:"body"`
}

func echo(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(Echoed{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Headers: r.Header, Body: string(body)})
}

func (s *Server) auth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		ok(w, r)
		return
	}
	var req struct {
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil || req.Password != s.Password {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":"authentication failed"}`)
		return
	}
	io.WriteString(w, `{"token":"fixture-token"}`)
}

package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/flytesecrets/flyte/host/core"
	"github.com/flytesecrets/flyte/host/identity"
	"github.com/flytesecrets/flyte/host/inject"
)

// DefaultIdle is how long an agent waits for a request before it exits.
const DefaultIdle = 10 * time.Minute

// maxCores bounds the configurations an agent keeps warm; the least
// recently used goes first.
const maxCores = 4

// handshakeTimeout bounds the hello and the request of a connection.
const handshakeTimeout = 30 * time.Second

// File names in the agent's directory.
const (
	socketName = "agent.sock"
	// runLock is held by the running agent for its whole life: one agent
	// per directory.
	runLock = "agent.pid"
	// startLock is held by a client while it starts an agent, so that two
	// first commands start one.
	startLock = "agent.lock"
)

// ErrRunning says another agent holds the directory.
var ErrRunning = errors.New("an agent is already running for this directory")

// Server is an agent listening on its socket.
type Server struct {
	build   string
	idle    time.Duration
	dir     *socketDir
	ln      *net.UnixListener
	run     *os.File
	started time.Time
	served  atomic.Uint64
	refused atomic.Uint64

	// plans keeps the built-in injectors' plans for every core (they are
	// keyed on the whole plan request, and hold no value).
	plans *inject.MemoryCache

	mu     sync.Mutex
	cores  map[string]*warm
	active int
	last   time.Time
	done   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
}

// warm is a Core kept for one configuration.
type warm struct {
	mu    sync.Mutex // one request at a time
	core  *core.Core
	relay *relay
	used  time.Time
	// closed: the core was closed (evicted or dropped); under mu.
	closed bool
}

// Listen makes the agent of the directory dir (see DirFor) with build id
// build: it takes the directory's run lock (ErrRunning when another agent
// holds it), replaces a socket left by an agent that is gone, and listens
// on a socket of mode 0600. idle 0 means DefaultIdle.
func Listen(dir, build string, idle time.Duration) (*Server, error) {
	if build == "" {
		return nil, errors.New("agent: no build id")
	}
	if idle <= 0 {
		idle = DefaultIdle
	}
	d, err := openDir(dir, true)
	if err != nil {
		return nil, err
	}
	lk, ok, err := d.lock(runLock, false)
	if err != nil || !ok {
		d.Close()
		if err == nil {
			err = ErrRunning
		}
		return nil, err
	}
	fail := func(err error) (*Server, error) {
		lk.Close()
		d.Close()
		return nil, err
	}
	if err := d.removeSocket(); err != nil {
		return fail(fmt.Errorf("cannot remove the old agent socket: %w", err))
	}
	addr, err := d.socketAddr()
	if err != nil {
		return fail(err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: addr, Net: "unix"})
	if err != nil {
		return fail(fmt.Errorf("cannot listen on the agent socket: %w", err))
	}
	ln.SetUnlinkOnClose(false) // removed through the directory (Stop)
	if err := d.chmodSocket(0o600); err != nil {
		ln.Close()
		return fail(err)
	}
	now := time.Now()
	return &Server{build: build, idle: idle, dir: d, ln: ln, run: lk, started: now, last: now,
		cores: map[string]*warm{}, done: make(chan struct{}), plans: inject.NewMemoryCache(inject.MaxCachedPlans)}, nil
}

// Serve answers connections until Stop, or until the agent was idle for
// its idle period; then it closes every core, removes the socket and
// releases the directory.
func (s *Server) Serve() error {
	go s.idleLoop()
	backoff := time.Duration(0)
	for {
		conn, err := s.ln.AcceptUnix()
		if err != nil {
			select {
			case <-s.done:
			default:
				if transient(err) { // out of descriptors or memory for now: wait, and go on
					backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
					time.Sleep(backoff)
					continue
				}
				s.Stop()
			}
			break
		}
		backoff = 0
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(conn)
		}()
	}
	s.wg.Wait()
	s.mu.Lock()
	for k, w := range s.cores {
		w.core.Close()
		delete(s.cores, k)
	}
	s.mu.Unlock()
	_ = s.dir.removeSocket()
	s.run.Close()
	return s.dir.Close()
}

// transient reports whether an accept error passes with time (a full
// descriptor table, a connection aborted before it was accepted).
func transient(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Stop makes Serve return once the requests being served are answered.
func (s *Server) Stop() {
	s.once.Do(func() {
		close(s.done)
		s.ln.Close()
	})
}

func (s *Server) idleLoop() {
	for {
		s.mu.Lock()
		wait := time.Until(s.last.Add(s.idle))
		idle := s.active == 0 && wait <= 0
		s.mu.Unlock()
		if idle {
			s.Stop()
			return
		}
		if wait <= 0 {
			wait = s.idle
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-s.done:
			t.Stop()
			return
		}
	}
}

// Status is the agent's state.
func (s *Server) Status() Status {
	s.mu.Lock()
	n := len(s.cores)
	s.mu.Unlock()
	return Status{Version: Version, Build: s.build, PID: os.Getpid(), Started: s.started,
		Served: s.served.Load(), Refused: s.refused.Load(), Cores: n}
}

// handle serves one connection: the peer must be a process of the agent's
// own uid, or it is closed before anything is read.
func (s *Server) handle(conn *net.UnixConn) {
	defer conn.Close()
	if uid, err := peerUID(conn); err != nil || int(uid) != os.Geteuid() {
		s.refused.Add(1)
		return
	}
	_ = conn.SetDeadline(time.Now().Add(handshakeTimeout))
	var h hello
	if receive(conn, 4<<10, &h) != nil {
		return
	}
	if send(conn, s.Status()) != nil {
		return
	}
	var req request
	if receive(conn, MaxFrame, &req) != nil {
		return
	}
	defer clear(req.Body)
	_ = conn.SetDeadline(time.Time{})
	switch {
	case req.Op == OpStatus:
		b, _ := json.Marshal(s.Status())
		_ = send(conn, reply{Done: true, Body: b})
		return
	case req.Op == OpStop:
		_ = send(conn, reply{Done: true})
		s.Stop()
		return
	case h.Version != Version || h.Build != s.build:
		_ = send(conn, reply{Done: true, Err: &Error{Msg: "agent of another build"}})
		return
	case req.Setup == nil || req.Setup.Config == nil:
		_ = send(conn, reply{Done: true, Err: &Error{Msg: "agent protocol: request without a configuration"}})
		return
	}
	s.mu.Lock()
	s.active++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.active--
		s.last = time.Now()
		s.mu.Unlock()
	}()
	s.served.Add(1)
	s.serve(conn, &req)
}

// serve answers a request of the store on the core of its configuration.
func (s *Server) serve(conn *net.UnixConn, req *request) {
	// The request ends early if the client goes away (it sends nothing
	// more: a read returns at its close).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		var b [1]byte
		_, _ = conn.Read(b[:])
		cancel()
	}()
	out := &stream{conn: conn}
	// A core can be evicted (closed) between warmFor and its lock: the
	// request then takes the core now filed for its setup.
	var w *warm
	var key string
	for {
		var err error
		if w, key, err = s.warmFor(req.Setup); err != nil {
			out.finish(reply{Err: encodeError(err)}, nil)
			return
		}
		w.mu.Lock()
		if !w.closed {
			break
		}
		w.mu.Unlock()
	}
	// The answer is sent after the core is released: a client that stops
	// reading holds up its own request only (and that for writeTimeout per
	// frame), never the next one of the same configuration.
	r, body, failed := func() (reply, []byte, bool) {
		defer w.mu.Unlock()
		w.relay.set(out, req.Setup.Terminal)
		defer w.relay.set(nil, 0)
		src := req.Setup.Identity.source(req.Setup.Config.Seal.Identity)
		w.core.Renew(src)
		defer w.core.Renew(nil) // the identity and data key go with the request
		body, err := do(ctx, w.core, req.Op, req.Body)
		var r reply
		if err != nil {
			r.Err = encodeError(err)
		}
		if path, ok := src.Created(); ok {
			r.Created = path
		}
		return r, body, w.core.Failed()
	}()
	out.finish(r, body)
	clear(body)
	if failed {
		s.drop(w, key)
		return
	}
	s.restamp(w, key, req.Setup)
}

// drop forgets the core w, kept under key, and closes it once its request
// is over.
func (s *Server) drop(w *warm, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cores[key] == w {
		delete(s.cores, key)
	}
	go w.close()
}

// restamp files the core w, kept under key, under what its setup's key is
// now: a store directory this request created, which the core holds open,
// is no longer "absent", so that a request after the directory is removed
// again gets a core of its own.
func (s *Server) restamp(w *warm, key string, setup *Setup) {
	now, err := setupKey(setup)
	if err != nil || now == key {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cores[key] != w {
		return
	}
	delete(s.cores, key)
	if _, taken := s.cores[now]; !taken {
		s.cores[now] = w
		return
	}
	go w.close()
}

// close closes the core, after the request it serves, if any.
func (w *warm) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	w.core.Close()
}

// do performs the operation op with the request body on k, and returns
// its answer as JSON. A listing may answer and fail (a partial listing).
func do(ctx context.Context, k *core.Core, op string, body json.RawMessage) (json.RawMessage, error) {
	var res any
	var err error
	switch op {
	case OpWrite:
		var r core.WriteRequest
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, malformed(err)
		}
		defer clear(r.Value)
		res, err = k.Write(ctx, r)
	case OpDelete:
		var r core.DeleteRequest
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, malformed(err)
		}
		err = k.Delete(ctx, r)
	case OpList:
		var r core.ListRequest
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, malformed(err)
		}
		res, err = k.List(ctx, r)
	case OpNames:
		var r core.NamesRequest
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, malformed(err)
		}
		res, err = k.Names(ctx, r)
	case OpTask:
		var r core.TaskRequest
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, malformed(err)
		}
		t, terr := k.PrepareTask(ctx, r)
		if terr != nil {
			return nil, terr
		}
		b, merr := json.Marshal(t)
		t.Wipe()
		return b, merr
	default:
		return nil, fmt.Errorf("agent protocol: unknown operation %q", op)
	}
	if res == nil {
		return nil, err
	}
	var b []byte
	var merr error
	if m, ok := res.(json.Marshaler); ok {
		// As it wrote it: json.Marshal would scan and copy the whole text
		// (megabytes for a listing) to check and compact it.
		b, merr = m.MarshalJSON()
	} else {
		b, merr = json.Marshal(res)
	}
	if merr != nil {
		return nil, merr
	}
	return b, err
}

func malformed(err error) error { return fmt.Errorf("agent protocol: malformed request: %w", err) }

// warmFor returns the core of setup's configuration, made on first use.
func (s *Server) warmFor(setup *Setup) (*warm, string, error) {
	key, err := setupKey(setup)
	if err != nil {
		return nil, "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if w, ok := s.cores[key]; ok {
		w.used = time.Now()
		return w, key, nil
	}
	if len(s.cores) >= maxCores {
		oldest := slices.MinFunc(slices.Collect(maps.Keys(s.cores)), func(a, b string) int {
			return s.cores[a].used.Compare(s.cores[b].used)
		})
		go s.cores[oldest].close()
		delete(s.cores, oldest)
	}
	rl := &relay{}
	opts := core.Options{CacheDir: setup.CacheDir, Progress: rl, Protected: setup.Protected, StateDir: setup.StateDir,
		Identity: identity.File(setup.Config.Seal.Identity), PlanCache: s.plans}
	if setup.Debug {
		opts.Log = rl
	}
	k, err := core.New(setup.Config, opts)
	if err != nil {
		return nil, "", err
	}
	w := &warm{core: k, relay: rl, used: time.Now()}
	s.cores[key] = w
	return w, key, nil
}

// setupKey names the core a setup is served on: a hash of the whole
// configuration but the identity (which each request brings), and of what
// a core holds from disk: each configured plugin's file (by its content: a
// plugin replaced or rewritten is loaded anew, as a new process would)
// and the store's directory (by its inode: a store removed and made again
// is opened anew).
func setupKey(setup *Setup) (string, error) {
	c := *setup
	c.Identity, c.Terminal = Identity{}, 0
	b, err := json.Marshal(&c)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write(b)
	for _, n := range slices.Sorted(maps.Keys(setup.Config.Plugins)) {
		fmt.Fprintf(h, "\x00plugin %q %s", n, contentStamp(setup.Config.Plugins[n].Path))
	}
	fmt.Fprintf(h, "\x00store %s", fileStamp(setup.Config.Store.Path))
	return hex.EncodeToString(h.Sum(nil)), nil
}

// maxPlugin is the largest plugin file a core loads (plugin.ReadFile).
const maxPlugin = 64 << 20

// contentStamp names the content of the file at path: its SHA-256, or
// why it cannot be read (the load will say so).
func contentStamp(path string) string {
	// Opened without waiting (a FIFO there must not hang the agent), and
	// read only if it is a regular file.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "unreadable"
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return "not a regular file"
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, maxPlugin+1)); err != nil {
		return "unreadable"
	}
	return hex.EncodeToString(h.Sum(nil))
}

// relay is a core's standard error: it goes to the client of the request
// being served, and nowhere between requests. It is a terminal
// (progress.Terminal) of the client's width when the client's is one.
type relay struct {
	mu    sync.Mutex
	to    io.Writer
	width int
}

func (r *relay) set(w io.Writer, width int) {
	r.mu.Lock()
	r.to, r.width = w, max(0, min(width, 1000))
	r.mu.Unlock()
}

func (r *relay) TerminalWidth() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.width
}

func (r *relay) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.to != nil {
		_, _ = r.to.Write(p)
	}
	return len(p), nil
}

// stream writes a request's frames: standard error as it comes, then the
// answer.
type stream struct {
	mu   sync.Mutex
	conn net.Conn
	done bool
}

// writeTimeout bounds the sending of one frame to a client: one that
// stops reading (stopped with ^Z, its standard error a full pipe) loses its
// answer rather than holding the agent.
const writeTimeout = 30 * time.Second

func (o *stream) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.done {
		_ = o.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
		if send(o.conn, reply{Stderr: p}) != nil {
			o.done = true // the client is gone or stuck: nothing more goes to it
		}
	}
	return len(p), nil
}

func (o *stream) finish(r reply, body []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.done {
		r.Done = true
		_ = o.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
		if err := sendReply(o.conn, r, body); errors.Is(err, ErrFrameTooLarge) {
			// Nothing was written: the client is told, and does the
			// work in-process (only a listing or a task is that large).
			_ = send(o.conn, reply{Done: true, Err: &Error{Msg: "the answer is larger than the agent's frame limit",
				Kind: kindTooLarge}})
		}
	}
	o.done = true
}

// source is the identity source id describes, for the configured file
// configured.
func (id Identity) source(configured string) *identity.Source {
	env := map[string]string{}
	switch id.Variable {
	case identity.EnvFile:
		env[identity.EnvFile] = id.File
	case identity.EnvKey:
		env[identity.EnvKey] = id.Key
	}
	return identity.Resolve(func(k string) string { return env[k] }, configured)
}

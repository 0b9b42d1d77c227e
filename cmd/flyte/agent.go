package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/flytesecrets/flyte/host/agent"
	"github.com/flytesecrets/flyte/host/config"
	"github.com/flytesecrets/flyte/host/core"
	"github.com/flytesecrets/flyte/host/identity"
	"github.com/flytesecrets/flyte/host/inject"
	"github.com/flytesecrets/flyte/host/progress"
	"github.com/flytesecrets/flyte/host/task"
)

// The resident agent (package agent): the store commands (create, update,
// get, delete, run) send their requests to it, with the configuration this
// process resolved, and start it when it is not running. FLYTE_NO_AGENT=1,
// or any failure to reach or start it, does the work in-process instead,
// with the same output.

// envNoAgent turns the agent off.
const envNoAgent = "FLYTE_NO_AGENT"

// agentServeArg is the hidden first argument flyte starts its agent with:
// flyte __agent DIR.
const agentServeArg = "__agent"

// noAgent keeps this process from using the agent whatever the
// environment says (tests that run flyte inside the test binary).
var noAgent = false

// service is what the store commands ask: the core in-process, or the
// agent.
type service interface {
	Write(context.Context, core.WriteRequest) (core.Secret, error)
	Delete(context.Context, core.DeleteRequest) error
	List(context.Context, core.ListRequest) (core.ListResult, error)
	Environment(name string, project, domain *string) (*config.Environment, string, string, error)
	PrepareTask(context.Context, core.TaskRequest) (*task.Prepared, error)
}

// service returns the agent when this invocation may use it, else the
// core in-process (engine).
func (c *cli) service() (service, error) {
	k, err := c.engine()
	if err != nil {
		return nil, err
	}
	setup, why := c.agentSetup()
	if setup == nil {
		c.debugf("agent: not used: %s", why)
		return k, nil
	}
	return &agentService{c: c, local: k, setup: setup}, nil
}

// debugf prints a line on standard error under FLYTE_DEBUG.
func (c *cli) debugf(format string, args ...any) {
	if c.getenv("FLYTE_DEBUG") != "" {
		fmt.Fprintf(c.stderr, "flyte: debug: "+format+"\n", args...)
	}
}

// agentSetup is the configuration the agent is sent, resolved by this
// process (engine made the core's options); nil, and why, when the agent
// is not to be used.
func (c *cli) agentSetup() (*agent.Setup, string) {
	switch {
	case noAgent:
		return nil, "in-process test"
	case c.getenv(envNoAgent) != "":
		return nil, envNoAgent + " is set"
	case nativeStore != nil:
		return nil, "flyte-native build"
	case buildID() == "":
		return nil, "no build id"
	}
	for _, p := range c.cfg.Plugins {
		if len(p.Grants) > 0 {
			return nil, "a plugin has grant tables"
		}
	}
	opts := c.coreOpts
	id := agent.Identity{Variable: opts.Identity.Variable()}
	switch id.Variable {
	case identity.EnvCmd:
		return nil, identity.EnvCmd + " is set"
	case identity.EnvFile:
		id.File = opts.Identity.File()
	case identity.EnvKey:
		id.Key = c.getenv(identity.EnvKey)
	}
	return &agent.Setup{Config: c.cfg, CacheDir: opts.CacheDir, StateDir: opts.StateDir, Protected: opts.Protected,
		Debug: opts.Log != nil, Identity: id, Terminal: progress.TerminalWidth(c.stderr, c.getenv)}, ""
}

// buildID is this flyte's build id, for the agent's handshake.
func buildID() string {
	id, _ := inject.SelfBuildID()
	return id
}

// agentClient reaches the agent of this invocation's runtime directory.
func (c *cli) agentClient() (*agent.Client, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cl := &agent.Client{Dir: agent.DirFor(c.getenv), Build: buildID(), Command: []string{self, agentServeArg}}
	if runtime.GOOS == "linux" {
		// The agent is this binary (its build id is this one's) even if the
		// file at self was replaced meanwhile.
		cl.Command[0], cl.Arg0 = "/proc/self/exe", self
	}
	return cl, nil
}

// agentService sends the store commands' requests to the agent; local is
// this process's core, for what needs no store and for the fallback.
type agentService struct {
	c     *cli
	local *core.Core
	setup *agent.Setup
}

// call sends one request. When the agent cannot serve it, the work is done
// in-process (inproc), unless the request changes the store (retry false)
// and was sent: it may have been done, and is not done twice.
func (a *agentService) call(op string, req, resp any, retry bool, inproc func() error) error {
	cl, err := a.c.agentClient()
	if err == nil {
		var created string
		created, err = cl.Call(a.c.ctx, op, a.setup, req, resp, a.c.stderr)
		if created != "" {
			a.c.agentCreated = created
		}
	}
	var ue *agent.UnavailableError
	if err != nil && (errors.As(err, &ue) || cl == nil) {
		if ue != nil && ue.Sent && !retry {
			return withHint(errors.New("the agent ended during the request, which may have been done"),
				"check with 'flyte get secret'; the next command starts a new agent")
		}
		a.c.debugf("agent: %v; working in-process", err)
		return inproc()
	}
	var re *agent.RemoteError
	if errors.As(err, &re) && re.Usage {
		var h interface{ Hint() string }
		if errors.As(err, &h) {
			return withHint(usagef("%s", re.Msg), h.Hint())
		}
		return usagef("%s", re.Msg)
	}
	return err
}

func (a *agentService) Write(ctx context.Context, req core.WriteRequest) (sec core.Secret, err error) {
	err = a.call(agent.OpWrite, req, &sec, false, func() error { sec, err = a.local.Write(ctx, req); return err })
	return sec, err
}

func (a *agentService) Delete(ctx context.Context, req core.DeleteRequest) error {
	return a.call(agent.OpDelete, req, nil, false, func() error { return a.local.Delete(ctx, req) })
}

func (a *agentService) List(ctx context.Context, req core.ListRequest) (res core.ListResult, err error) {
	err = a.call(agent.OpList, req, &res, true, func() error { res, err = a.local.List(ctx, req); return err })
	return res, err
}

func (a *agentService) Environment(name string, project, domain *string) (*config.Environment, string, string, error) {
	return a.local.Environment(name, project, domain)
}

func (a *agentService) PrepareTask(ctx context.Context, req core.TaskRequest) (t *task.Prepared, err error) {
	t = &task.Prepared{}
	err = a.call(agent.OpTask, req, t, true, func() error { t.Wipe(); t, err = a.local.PrepareTask(ctx, req); return err })
	if err != nil {
		if t != nil {
			t.Wipe()
		}
		return nil, err
	}
	return t, nil
}

// agentIdentityCreated tells the user of the identity the agent created
// for this command, as identityCreated does for one created in-process.
func (c *cli) agentIdentityCreated() {
	if c.agentCreated != "" {
		fmt.Fprint(c.stderr, identityNotice(c.agentCreated))
	}
}

// agentServe is the agent's process: flyte __agent DIR.
func (c *cli) agentServe(dir string) error {
	if code := agent.ServeMain(dir, buildID(), 0); code != 0 {
		return exitCode(code)
	}
	return nil
}

var cmdAgentStart = &command{
	Name:  "agent start",
	Short: "start the resident agent (commands start it when needed)",
	Long: `
Agent start starts flyte's resident agent unless it runs already. The agent
keeps the plugins compiled and loaded between commands; create, update, get,
delete and run send it their requests, and start it when it is not running.
It exits after 10 minutes without a request. With FLYTE_NO_AGENT=1 set, no
command uses it.`,
	Run: (*cli).agentStart,
}

var cmdAgentStop = &command{
	Name:  "agent stop",
	Short: "stop the resident agent",
	Long: `
Agent stop asks the resident agent to exit, and waits until it has. The next
command that needs it starts it again, unless FLYTE_NO_AGENT=1 is set.`,
	Run: (*cli).agentStop,
}

var cmdAgentStatus = &command{
	Name:  "agent status",
	Short: "say whether the resident agent runs, and what it served",
	Long: `
Agent status says whether the resident agent runs; when it does, its process
id, how long it has run, its build, how many requests it served and its
socket.`,
	Run: (*cli).agentStatus,
}

func (c *cli) agentStart(args []string) error {
	if err := c.argCount(args, 0, 0, ""); err != nil {
		return err
	}
	if c.getenv(envNoAgent) != "" {
		return withHint(errors.New(envNoAgent+" is set: no command uses the agent"), "unset "+envNoAgent+" to use it")
	}
	cl, err := c.agentClient()
	if err != nil {
		return err
	}
	if st, err := cl.Status(); err == nil {
		fmt.Fprintf(c.stdout, "agent already running (pid %d)\n", st.PID)
		return nil
	}
	st, err := cl.Start()
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "agent started (pid %d)\n", st.PID)
	return nil
}

func (c *cli) agentStop(args []string) error {
	if err := c.argCount(args, 0, 0, ""); err != nil {
		return err
	}
	cl, err := c.agentClient()
	if err != nil {
		return err
	}
	was, err := cl.Stop()
	switch {
	case err != nil:
		return err
	case was:
		fmt.Fprintln(c.stdout, "agent stopped")
	default:
		fmt.Fprintln(c.stdout, "agent not running")
	}
	return nil
}

func (c *cli) agentStatus(args []string) error {
	if err := c.argCount(args, 0, 0, ""); err != nil {
		return err
	}
	cl, err := c.agentClient()
	if err != nil {
		return err
	}
	st, err := cl.Status()
	if errors.Is(err, agent.ErrNotRunning) {
		fmt.Fprintln(c.stdout, "agent: not running")
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "agent: running\npid: %d\nuptime: %s\nbuild: %s\nserved: %d\nsocket: %s\n",
		st.PID, time.Since(st.Started).Round(time.Second), agent.BuildString(st.Build), st.Served, filepath.Join(cl.Dir, "agent.sock"))
	return nil
}

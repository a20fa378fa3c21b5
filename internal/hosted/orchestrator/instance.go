package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboardhq/switchboard/internal/script"
)

// instance is one running service: an actor whose goroutine owns its Lua session and
// processes its callbacks one at a time — Start, then actions from its inbox and timer ticks,
// then Stop.
type instance struct {
	o    *Orchestrator
	spec Spec
	red  redactor

	inbox   chan action
	ticks   chan *timer   // at most one pending tick per timer (timer.pending)
	stopReq chan struct{} // closed to ask for Stop
	stopped sync.Once
	done    chan struct{} // closed when the goroutine has ended and the session is closed
	live    atomic.Bool   // set up and not ended
	killed  atomic.Bool

	ctx    context.Context // the instance's life; cancelled to kill it
	cancel context.CancelFunc

	// The goroutine's own.
	sess   *script.Session
	obj    script.Value
	timers map[int]*timer
	lastID int
}

// action is a SubmitAction message in an inbox.
type action struct {
	from, name string
	body       any
	broadcast  bool // sent to "*"
}

func newInstance(o *Orchestrator, s Spec) *instance {
	in := &instance{
		o: o, spec: s, red: newRedactor(s.Security),
		inbox:   make(chan action, o.opt.Inbox),
		ticks:   make(chan *timer, 2*o.opt.MaxTimers),
		stopReq: make(chan struct{}),
		done:    make(chan struct{}),
		timers:  map[int]*timer{},
	}
	in.ctx, in.cancel = context.WithCancel(context.Background())
	return in
}

// launch starts the instance's goroutine; an instance of a kind not run here only logs.
func (in *instance) launch() {
	if !isLua(in.spec.Kind) {
		in.log(slog.LevelWarn, fmt.Sprintf("instance not run: this runtime runs lua services, not %s", in.spec.Kind), nil)
		in.cancel()
		close(in.done)
		return
	}
	go in.run()
}

// running reports whether the instance is set up and not ended.
func (in *instance) running() bool { return in.live.Load() }

// ended reports whether the instance's goroutine has ended (or never ran).
func (in *instance) ended() bool {
	select {
	case <-in.done:
		return true
	default:
		return false
	}
}

func (in *instance) run() {
	defer close(in.done)
	defer in.cancel()
	defer in.cleanup()
	if err := in.setup(); err != nil {
		in.log(slog.LevelError, "instance not started: "+err.Error(), nil)
		return
	}
	in.live.Store(true)
	in.callback("Start", func(ctx context.Context) error {
		_, err := in.sess.CallMethod(ctx, in.obj, "Start")
		return err
	})
	for in.sess.Err() == nil {
		// A stop comes before anything queued.
		select {
		case <-in.stopReq:
			in.stopping()
			return
		default:
		}
		select {
		case <-in.stopReq:
			in.stopping()
			return
		case a := <-in.inbox:
			in.deliver(a)
		case t := <-in.ticks:
			in.tick(t)
		}
	}
}

// setup compiles the code, makes the session and the instance object.
func (in *instance) setup() error {
	p, err := script.Compile(in.spec.Service, in.spec.Code)
	if err != nil {
		return err
	}
	in.sess = in.o.opt.Engine.NewSession(script.SessionOptions{
		Solution: in.spec.Settings.Solution, Limits: in.o.opt.Limits, Log: in.scriptLog,
	})
	if err := in.sess.SetGlobal("Timer", in.timerFuncs()); err != nil {
		return err
	}
	class, err := in.sess.Load(in.ctx, p)
	if err != nil {
		return err
	}
	if !class.IsTable() {
		return errors.New("the code must return the service's class (a table with Start and Stop)")
	}
	in.obj, err = in.sess.Object(class, in.builtins())
	return err
}

// cleanup ends what the instance holds; on its goroutine, last.
func (in *instance) cleanup() {
	in.live.Store(false)
	for _, t := range in.timers {
		t.cancel()
	}
	clear(in.timers)
	if in.sess != nil {
		in.sess.Close()
	}
}

// stopping runs Stop: timers first (no tick after Stop), then what is queued is dropped.
func (in *instance) stopping() {
	for _, t := range in.timers {
		t.cancel()
	}
	dropped := 0
	for len(in.inbox) > 0 { // the goroutine is the inbox's only reader
		<-in.inbox
		dropped++
	}
	if dropped > 0 {
		in.log(slog.LevelWarn, fmt.Sprintf("%d queued actions dropped: the instance is stopping", dropped), nil)
	}
	in.callback("Stop", func(ctx context.Context) error {
		_, err := in.sess.CallMethod(ctx, in.obj, "Stop")
		return err
	})
}

// stop asks for Stop and waits for it until the stop deadline or ctx's end, then kills the
// instance: its context ends, which ends the Lua call in progress and any wait it is in.
func (in *instance) stop(ctx context.Context) {
	in.stopped.Do(func() { close(in.stopReq) })
	deadline := time.NewTimer(in.o.opt.StopDeadline)
	defer deadline.Stop()
	select {
	case <-in.done:
		return
	case <-deadline.C:
	case <-ctx.Done():
	}
	in.killed.Store(true)
	in.cancel()
	in.log(slog.LevelError, fmt.Sprintf("instance killed: it did not stop within %s", in.o.opt.StopDeadline), nil)
	grace := time.NewTimer(killGrace)
	defer grace.Stop()
	select {
	case <-in.done:
	case <-grace.C:
		in.log(slog.LevelError, fmt.Sprintf("instance killed but still busy after %s (a host call that ignores its context?)", killGrace), nil)
	}
}

// deliver calls the action's method.
func (in *instance) deliver(a action) {
	in.callback(a.name, func(ctx context.Context) error {
		_, err := in.sess.CallMethod(ctx, in.obj, a.name, a.body)
		if a.broadcast && errors.Is(err, script.ErrNoMethod) {
			return nil // "*" reaches every service; those without the method ignore it
		}
		return err
	})
}

// callback runs one callback and logs how it failed: a limit or an error ends the callback
// only, the memory limit ends the instance.
func (in *instance) callback(name string, call func(context.Context) error) {
	err := call(in.ctx)
	if err == nil || in.killed.Load() {
		return
	}
	switch {
	case errors.Is(err, script.ErrNoMethod):
		in.log(slog.LevelWarn, fmt.Sprintf("no method %s: the service's class does not define it", name), nil)
	case in.sess.Err() != nil:
		in.log(slog.LevelError, fmt.Sprintf("instance killed in %s: %s", name, err.Error()), nil)
	default:
		in.log(slog.LevelError, fmt.Sprintf("%s failed: %s", name, err.Error()), nil)
	}
}

// send puts a into in's inbox, waiting while it is full until ctx's deadline is near (so the
// sender's callback has time left to handle the error), or in stops.
func (in *instance) send(ctx context.Context, a action) error {
	// An instance being set up takes actions: they wait for its Start.
	if in.ended() {
		return fmt.Errorf("%s is not running", in.spec.Name)
	}
	select {
	case in.inbox <- a:
		return nil
	default:
	}
	wait := ctx
	if dl, ok := ctx.Deadline(); ok {
		margin := min(time.Until(dl)/10, 100*time.Millisecond)
		var cancel context.CancelFunc
		wait, cancel = context.WithDeadline(ctx, dl.Add(-margin))
		defer cancel()
	}
	select {
	case in.inbox <- a:
		return nil
	case <-wait.Done():
		return fmt.Errorf("the inbox of %s is full (%d actions): not delivered in time", in.spec.Name, cap(in.inbox))
	case <-in.stopReq:
		return fmt.Errorf("%s is stopping", in.spec.Name)
	case <-in.done:
		return fmt.Errorf("%s is not running", in.spec.Name)
	}
}

// log writes to the host's log with the security values redacted.
func (in *instance) log(level slog.Level, msg string, fields map[string]any) {
	in.o.opt.Host.Log(in.spec, level, in.red.text(msg), in.red.fields(fields))
}

// scriptLog receives print() and Log.* of the service.
func (in *instance) scriptLog(level slog.Level, msg string, fields map[string]any) {
	in.log(level, msg, fields)
}

package invoker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/invoker/container"
	"github.com/flurryfn/flurry/invoker/pool"
)

// OpenWhisk's wording of action failures, so existing clients and tests
// recognise them.
const (
	msgTimeoutT     = "The action exceeded its time limits of %d milliseconds."
	msgInitTimeoutT = "The action did not initialize within %d milliseconds."
	msgNotDict      = "The action did not return a dictionary."
	msgTooLongT     = "The action produced a response that exceeded the allowed length: %d > %d bytes."
	msgCrashed      = "The action did not produce a valid response and exited unexpectedly."
	msgInitCrashed  = "The action did not initialize and exited unexpectedly."
	msgInternalT    = "The invoker could not run the action: %s"
	defaultMainName = "main"
)

// How long logs are awaited after /run: the markers normally follow the
// response at once; after a failure the container may never print them.
const (
	logWait       = 2 * time.Second
	logWaitFailed = 300 * time.Millisecond
)

// errShutdown means the activation was abandoned because the invoker is
// stopping; its message is left for redelivery and no record is written.
var errShutdown = errors.New("invoker shutting down")

// conn is what the invoker keeps per container.
type conn struct {
	client *container.Client
	logs   *container.LogCollector
}

// openConn starts reading a fresh container's output and waits for its
// proxy; it is the pool's OpenFunc.
func openConn(ctx context.Context, c *container.Container) (*conn, error) {
	cl, logs := container.Connect(c)
	if err := cl.WaitReady(ctx); err != nil {
		cl.Close()
		return nil, err
	}
	return &conn{client: cl, logs: logs}, nil
}

// outcome is what running one activation produced.
type outcome struct {
	status  int
	result  json.RawMessage
	logs    []string
	start   time.Time // when /init (prewarm, cold) or /run (warm) began
	end     time.Time
	initDur time.Duration // zero when /init did not run
	how     pool.Start
}

// activate runs m and returns its record. The error is errShutdown only:
// every failure of the action or of the platform is a record.
func (i *Invoker) activate(ctx context.Context, log *slog.Logger, m *activation.Message) (*activation.Record, error) {
	a := &m.Action
	lim := a.Limits.WithDefaults()
	o, err := i.execute(ctx, log, m, lim)
	if err != nil {
		return nil, err
	}
	rec := &activation.Record{
		ActivationID: m.ActivationID,
		Namespace:    m.Namespace,
		Name:         a.Name,
		Version:      a.Version,
		Subject:      m.Subject,
		Start:        o.start.UnixMilli(),
		End:          o.end.UnixMilli(),
		Response:     activation.NewResponse(o.status, o.result),
		Logs:         o.logs,
		Publish:      a.Publish,
		Cause:        m.Cause,
	}
	if rec.Logs == nil {
		rec.Logs = []string{}
	}
	rec.Duration = rec.End - rec.Start
	rec.Annotate(activation.AnnotationPath, a.Namespace+"/"+a.Name)
	rec.Annotate(activation.AnnotationKind, a.Exec.Kind)
	rec.Annotate(activation.AnnotationLimits, lim)
	if m.Admitted > 0 {
		rec.Annotate(activation.AnnotationWaitTime, max(rec.Start-m.Admitted, 0))
	}
	if o.initDur > 0 {
		rec.Annotate(activation.AnnotationInitTime, o.initDur.Milliseconds())
	}
	if o.how != "" {
		rec.Annotate(activation.AnnotationStart, string(o.how))
	}
	rec.Annotate(activation.AnnotationInvoker, i.cfg.ID)
	if m.App != nil {
		rec.Annotate(activation.AnnotationApp, a.Name)
		if m.App.Endpoint != "" {
			rec.Annotate(activation.AnnotationEndpoint, m.App.Endpoint)
		}
	}
	if m.Cause != "" {
		rec.Annotate(activation.AnnotationCausedBy, m.Cause) // the sequence or trigger activation
	}
	log.Debug("activation finished", "action", a.Key(), "status", activation.StatusText(o.status),
		"start", o.how, "durationMs", rec.Duration, "initMs", o.initDur.Milliseconds())
	return rec, nil
}

func (i *Invoker) execute(ctx context.Context, log *slog.Logger, m *activation.Message, lim entity.Limits) (outcome, error) {
	a := &m.Action
	timeout := time.Duration(lim.Timeout) * time.Millisecond
	internal := func(format string, args ...any) (outcome, error) {
		msg := fmt.Sprintf(format, args...)
		log.Error("activation failed in the platform", "action", a.Key(), "err", msg)
		now := time.Now()
		return outcome{status: activation.StatusInternalError,
			result: activation.ErrorResult(fmt.Sprintf(msgInternalT, msg)), start: now, end: now}, nil
	}

	// Aliases ("nodejs:default") share their kind's image and stem cells.
	kind := entity.CanonicalKind(a.Exec.Kind)
	image := i.cfg.Images[kind]
	if kind == entity.KindBlackbox {
		image = a.Exec.Image
	}
	if image == "" {
		return internal("no runtime image for kind %q on invoker %s", a.Exec.Kind, i.cfg.ID)
	}
	key := a.Key()
	req := pool.Request{
		Key:         key,
		Kind:        kind,
		Image:       image,
		MemoryMB:    lim.Memory,
		Network:     i.nets.policy(a.Namespace, m.Namespace),
		Concurrency: int(lim.Concurrency),
		Family:      key[:strings.LastIndexByte(key, '@')], // namespace/name, without an allocation
		Revision:    a.Revision,
	}
	if m.App != nil {
		req.Family = "" // an app's keys are per endpoint (appKey)
		i.apps.remember(a)
		req.Key = appKey(a, m.App.Endpoint)
		if m.App.Op == activation.AppServe {
			req.Loaded = appKey(a, "")
		}
	}
	// One still waiting for a container when this invoker leaves goes
	// back to the stream for another to run now, not after the drain.
	qctx, cancelWait := context.WithCancel(ctx)
	stopWait := context.AfterFunc(i.leaving, cancelWait)
	c, how, err := i.pool.Acquire(qctx, req)
	stopWait()
	cancelWait()
	if err != nil {
		// qctx is cancelled by now whatever happened: only ctx's end or
		// the departure make this a shutdown; a failed start is the
		// activation's own error.
		if ctx.Err() != nil || i.leaving.Err() != nil {
			return outcome{}, errShutdown
		}
		return internal("get a container: %v", err)
	}
	log = log.With("container", c.ID)
	o := outcome{how: how, start: time.Now()}
	cn := c.Conn

	// failed ends an activation whose container cannot be trusted again.
	failed := func(status int, result json.RawMessage) (outcome, error) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), logWaitFailed)
		o.logs = cn.logs.Collect(lctx, logLimit(lim))
		cancel()
		i.pool.Discard(c)
		if ctx.Err() != nil {
			return outcome{}, errShutdown
		}
		o.end = time.Now()
		o.status, o.result = status, result
		return o, nil
	}

	if how == pool.StartLoaded {
		// The container holds the app already; it is specialized for
		// this endpoint, and another loaded one is started for the next.
		loaded := req
		loaded.Key, loaded.Loaded = req.Loaded, ""
		i.pool.Prewarm(ctx, loaded)
	}
	if how != pool.StartWarm {
		code := ""
		if a.Exec.CodeDigest != "" && how != pool.StartLoaded {
			if code, err = i.code.get(ctx, a.Exec.CodeDigest); err != nil {
				i.pool.Release(c) // never initialized: the pool removes it
				if ctx.Err() != nil {
					return outcome{}, errShutdown
				}
				return internal("%v", err)
			}
		}
		initTimeout := max(timeout, i.cfg.MinInitTimeout)
		ictx, cancel := context.WithTimeout(ctx, initTimeout)
		err = initConn(ictx, cn, a, code, how != pool.StartLoaded, m.App != nil, serveEndpoint(m.App))
		cancel()
		o.initDur = max(time.Since(o.start), time.Millisecond)
		if err != nil {
			var ae *container.ActionError
			switch {
			case errors.As(err, &ae):
				log.Info("action init failed", "err", ae.Message)
				return failed(activation.StatusDeveloperError, activation.ErrorResult(ae.Message))
			case ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
				return failed(activation.StatusDeveloperError, activation.ErrorResult(fmt.Sprintf(msgInitTimeoutT, initTimeout.Milliseconds())))
			default:
				log.Info("action init crashed", "err", err)
				return failed(activation.StatusDeveloperError, activation.ErrorResult(msgInitCrashed))
			}
		}
		i.pool.Initialized(c)
	}
	if m.App != nil && m.App.Op == activation.AppRegister {
		return i.register(ctx, log, c, o, timeout, lim)
	}

	runStart := time.Now()
	if how == pool.StartWarm {
		o.start = runStart
	}
	// Marked just before /run, so that a redelivery after this invoker
	// dies knows the action may have run (see lostRun); an activation
	// lost before this point is simply run again.
	i.markStarted(log, m)
	rctx, cancel := context.WithTimeout(ctx, timeout)
	resp, err := cn.client.Run(rctx, container.RunRequest{
		Value:         m.Params,
		Namespace:     m.Namespace,
		ActionName:    "/" + a.Namespace + "/" + a.Name,
		ActionVersion: a.Version,
		ActivationID:  m.ActivationID,
		Deadline:      runStart.Add(timeout).UnixMilli(),
	})
	cancel()
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			log.Info("action timed out", "timeoutMs", lim.Timeout)
			return failed(activation.StatusDeveloperError, activation.ErrorResult(fmt.Sprintf(msgTimeoutT, lim.Timeout)))
		}
		log.Info("action crashed", "err", err)
		return failed(activation.StatusDeveloperError, activation.ErrorResult(msgCrashed))
	}
	o.end = time.Now()
	if resp.StatusCode != 200 {
		log.Info("action failed", "httpStatus", resp.StatusCode)
		result := activation.ErrorResult(msgCrashed)
		if e, _ := objectError(resp.Body); e != nil {
			result = mustJSON(map[string]json.RawMessage{"error": e})
		}
		return failed(activation.StatusDeveloperError, result)
	}

	switch errField, isObj := objectError(resp.Body); {
	case resp.Truncated:
		o.status, o.result = activation.StatusApplicationError,
			activation.ErrorResult(fmt.Sprintf(msgTooLongT, resp.Size, entity.MaxPayloadBytes))
	case !isObj:
		o.status, o.result = activation.StatusDeveloperError, activation.ErrorResult(msgNotDict)
	case errField != nil:
		o.status, o.result = activation.StatusApplicationError, resp.Body
	default:
		o.status, o.result = activation.StatusSuccess, resp.Body
	}
	lctx, lcancel := context.WithTimeout(context.WithoutCancel(ctx), logWait)
	o.logs = cn.logs.Collect(lctx, logLimit(lim))
	lcancel()
	i.pool.Release(c)
	return o, nil
}

// initConn sends /init with action revision a's code (unless the
// container has it already, !needInit; in app mode for an app) and, for
// an app endpoint, /specialize.
func initConn(ctx context.Context, cn *conn, a *entity.Action, code string, needInit, app bool, endpoint string) error {
	if needInit {
		main := a.Exec.Main
		if main == "" {
			main = defaultMainName
		}
		if err := cn.client.Init(ctx, container.InitRequest{Name: a.Name, Main: main, Code: code, Binary: a.Exec.Binary, App: app}); err != nil {
			return err
		}
	}
	if endpoint != "" {
		return cn.client.Specialize(ctx, endpoint)
	}
	return nil
}

// serveEndpoint is the endpoint an app activation serves ("" for
// anything else: an action, or an app's register activation).
func serveEndpoint(app *activation.AppCall) string {
	if app == nil || app.Op != activation.AppServe {
		return ""
	}
	return app.Endpoint
}

// register asks a freshly initialized app container for its route table
// (ADR 010): the table is the activation's result. After a good answer
// the container stays in the pool, loaded with the app and not
// specialized, for the first request to any endpoint (pool.StartLoaded).
func (i *Invoker) register(ctx context.Context, log *slog.Logger, c *pool.Container[*conn], o outcome, timeout time.Duration, lim entity.Limits) (outcome, error) {
	cn := c.Conn
	rctx, cancel := context.WithTimeout(ctx, timeout)
	table, err := cn.client.Register(rctx)
	cancel()
	o.end = time.Now()
	var ae *container.ActionError
	switch _, isObj := objectError(table); {
	case errors.As(err, &ae):
		log.Info("app register failed", "err", ae.Message)
		o.status, o.result = activation.StatusDeveloperError, activation.ErrorResult("the app's /register failed: "+ae.Message)
	case err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
		o.status, o.result = activation.StatusDeveloperError, activation.ErrorResult(fmt.Sprintf(msgTimeoutT, lim.Timeout))
	case err != nil:
		o.status, o.result = activation.StatusDeveloperError, activation.ErrorResult(msgCrashed)
	case !isObj:
		o.status, o.result = activation.StatusDeveloperError, activation.ErrorResult("the app's /register did not answer a JSON object")
	default:
		o.status, o.result = activation.StatusSuccess, table
	}
	lctx, lcancel := context.WithTimeout(context.WithoutCancel(ctx), logWaitFailed)
	o.logs = cn.logs.Collect(lctx, logLimit(lim))
	lcancel()
	if o.status == activation.StatusSuccess {
		i.pool.Release(c)
	} else {
		i.pool.Discard(c)
	}
	if ctx.Err() != nil {
		return outcome{}, errShutdown
	}
	return o, nil
}

func logLimit(lim entity.Limits) int { return int(lim.Logs) << 20 }

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

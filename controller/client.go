package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
)

// DefaultClientTimeout bounds one API request of a Client.
const DefaultClientTimeout = 10 * time.Second

// Client is the controller API over NATS, for a gateway in another process
// than the controllers (see Serve). It implements gateway.Backend and
// returns the same sentinel errors as Controller; a controller that does
// not answer is ErrUnavailable. Safe for concurrent use.
type Client struct {
	nc      *nats.Conn
	timeout time.Duration

	mu   sync.Mutex
	code jetstream.ObjectStore
}

// NewClient returns a Client whose requests time out after timeout
// (DefaultClientTimeout if 0); blocking invokes wait longer, see Invoke.
func NewClient(nc *nats.Conn, timeout time.Duration) *Client {
	if timeout <= 0 {
		timeout = DefaultClientTimeout
	}
	return &Client{nc: nc, timeout: timeout}
}

// Why a request got no answer, for callers that tell their caller what
// may have happened (Invoke).
var (
	errNotSent  = errors.New("not sent")
	errNoAnswer = errors.New("sent, not answered")
)

// call sends one request and decodes its result into out.
func (c *Client) call(ctx context.Context, method string, timeout time.Duration, req, out any) error {
	data, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("%s: %w: %v", method, ErrInvalid, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	m, err := c.nc.RequestWithContext(ctx, names.ControllerAPISubject(method), data)
	if err != nil {
		switch {
		case errors.Is(err, nats.ErrNoResponders):
			// The server had no controller to deliver it to.
			return fmt.Errorf("%s: no controller is reachable, the request was not delivered: %w: %w: %w", method, errNotSent, ErrUnavailable, err)
		case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout):
			return fmt.Errorf("%s: no controller answered within %s: %w: %w: %w", method, timeout, errNoAnswer, ErrUnavailable, err)
		}
		return fmt.Errorf("%s: %w", method, err)
	}
	var resp response
	if err := json.Unmarshal(m.Data, &resp); err != nil {
		return fmt.Errorf("%s: bad reply: %w", method, err)
	}
	if resp.Error != nil {
		return fromWire(resp.Error)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(resp.Result, out); err != nil {
		return fmt.Errorf("%s: bad result: %w", method, err)
	}
	return nil
}

// codeStore opens the code object store on first use.
func (c *Client) codeStore(ctx context.Context) (jetstream.ObjectStore, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.code != nil {
		return c.code, nil
	}
	js, err := jetstream.New(c.nc)
	if err == nil {
		c.code, err = js.ObjectStore(ctx, names.CodeStore)
	}
	if err != nil {
		return nil, unavailable("code store", err)
	}
	return c.code, nil
}

// readTries is how many times callReadOnly sends a request within its
// timeout.
const readTries = 4

// callReadOnly is call for a request that changes nothing, sent again
// when it got no answer within a share of timeout: a request is lost
// when the connection of the controller it went to drops (a NATS node
// lost), and sending it again is harmless and costs that share instead
// of the whole timeout.
func (c *Client) callReadOnly(ctx context.Context, method string, timeout time.Duration, req, out any) error {
	try := max(timeout/readTries, time.Second)
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		err := c.call(ctx, method, min(try, left), req, out)
		if !errors.Is(err, errNoAnswer) || left <= try || ctx.Err() != nil {
			return err
		}
	}
}

// Authenticate checks "uuid:key"; see Controller.Authenticate.
func (c *Client) Authenticate(ctx context.Context, auth string) (Identity, error) {
	var id Identity
	err := c.callReadOnly(ctx, MethodAuthenticate, c.timeout, authenticateRequest{Auth: auth}, &id)
	return id, err
}

// PutAction creates or updates an action; see Controller.PutAction. Code
// over InlineCodeMax goes to the code store first and only its digest is
// sent.
func (c *Client) PutAction(ctx context.Context, id Identity, req PutActionRequest) (*entity.Action, error) {
	if len(req.Code) > entity.MaxCodeBytes {
		return nil, fmt.Errorf("action %q: code is %d bytes, over %d: %w", req.Name, len(req.Code), entity.MaxCodeBytes, ErrTooLarge)
	}
	if len(req.Code) > InlineCodeMax {
		digest, err := c.uploadCode(ctx, req.Code, req.Exec.CodeDigest)
		if err != nil {
			return nil, fmt.Errorf("action %q: %w", req.Name, err)
		}
		req.Exec.CodeDigest, req.Code = digest, nil
	}
	var a entity.Action
	if err := c.call(ctx, MethodPutAction, c.timeout, putActionRequest{Identity: id, Request: req}, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// uploadCode puts code into the code store unless it is there already and
// returns its digest, which must equal want when want is set.
func (c *Client) uploadCode(ctx context.Context, code []byte, want string) (string, error) {
	store, err := c.codeStore(ctx)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(code)
	digest := hex.EncodeToString(sum[:])
	if want != "" && want != digest {
		return "", fmt.Errorf("%w: code digest %s does not match the code (%s)", ErrInvalid, want, digest)
	}
	// Content addressed: code already there is the same code.
	if _, err := store.GetInfo(ctx, names.CodeName(digest)); err != nil {
		if !errors.Is(err, jetstream.ErrObjectNotFound) {
			return "", unavailable("code store", err)
		}
		if _, err := store.PutBytes(ctx, names.CodeName(digest), code); err != nil {
			return "", unavailable("code store", err)
		}
	}
	return digest, nil
}

// GetAction returns the action and, when withCode, its code; large code
// is read from the code store.
func (c *Client) GetAction(ctx context.Context, id Identity, ns, name string, withCode bool) (*entity.Action, []byte, error) {
	var resp getActionResponse
	req := actionRequest{Identity: id, Namespace: ns, Name: name, WithCode: withCode}
	if err := c.call(ctx, MethodGetAction, c.timeout, req, &resp); err != nil {
		return nil, nil, err
	}
	if resp.Action == nil {
		return nil, nil, fmt.Errorf("get action: empty reply")
	}
	if !withCode || resp.Code != nil || resp.Action.Exec.CodeDigest == "" {
		return resp.Action, resp.Code, nil
	}
	store, err := c.codeStore(ctx)
	if err != nil {
		return nil, nil, err
	}
	code, err := store.GetBytes(ctx, names.CodeName(resp.Action.Exec.CodeDigest))
	if err != nil {
		return nil, nil, unavailable(fmt.Sprintf("code of action %q", name), err)
	}
	return resp.Action, code, nil
}

// ListActions lists the namespace's actions; see Controller.ListActions.
func (c *Client) ListActions(ctx context.Context, id Identity, ns string, skip, limit int) ([]*entity.Action, error) {
	var out []*entity.Action
	err := c.call(ctx, MethodListActions, c.timeout, listActionsRequest{Identity: id, Namespace: ns, Skip: skip, Limit: limit}, &out)
	return out, err
}

// DeleteAction deletes an action; see Controller.DeleteAction.
func (c *Client) DeleteAction(ctx context.Context, id Identity, ns, name string) (*entity.Action, error) {
	var a entity.Action
	if err := c.call(ctx, MethodDeleteAction, c.timeout, actionRequest{Identity: id, Namespace: ns, Name: name}, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// Invoke starts an activation; see Controller.Invoke. A blocking invoke's
// request waits req.Wait (or DefaultWait) plus the client's timeout.
func (c *Client) Invoke(ctx context.Context, id Identity, req InvokeRequest) (*InvokeResult, error) {
	// Checked here too: an oversized or malformed request would not even
	// reach the controller intact.
	if len(req.Params) > entity.MaxPayloadBytes {
		return nil, fmt.Errorf("invoke %q: parameters are %d bytes, over %d: %w", req.Name, len(req.Params), entity.MaxPayloadBytes, ErrTooLarge)
	}
	if len(req.Params) > 0 && !json.Valid(req.Params) {
		return nil, fmt.Errorf("invoke %q: %w: parameters must be a JSON object", req.Name, ErrInvalid)
	}
	timeout := c.timeout
	if req.Blocking {
		wait := req.Wait
		if wait <= 0 {
			wait = DefaultWait
		}
		timeout += wait
	}
	var res InvokeResult
	if err := c.call(ctx, MethodInvoke, timeout, invokeRequest{Identity: id, Request: req}, &res); err != nil {
		return nil, invokeUnanswered(req, err)
	}
	return &res, nil
}

// invokeUnanswered says what an invoke without an answer may have done,
// so that a client knows whether a retry can run the action twice.
func invokeUnanswered(req InvokeRequest, err error) error {
	switch {
	case errors.Is(err, errNotSent):
		return fmt.Errorf("invoke %q: not queued, no controller is reachable: %w", req.Name, ErrUnavailable)
	case !errors.Is(err, errNoAnswer):
		return err
	case req.IdempotencyKey != "":
		return fmt.Errorf("invoke %q: no controller answered in time; the activation may have been queued, and retrying with the same Idempotency-Key is safe: %w", req.Name, ErrUnavailable)
	default:
		return fmt.Errorf("invoke %q: no controller answered in time; the activation may have been queued, and a retry may run it twice (send an Idempotency-Key to retry safely): %w", req.Name, ErrUnavailable)
	}
}

// GetActivation returns a record; see Controller.GetActivation.
func (c *Client) GetActivation(ctx context.Context, id Identity, ns, activationID string) (*activation.Record, error) {
	var r activation.Record
	if err := c.call(ctx, MethodGetActivation, c.timeout, getActivationRequest{Identity: id, Namespace: ns, ActivationID: activationID}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ListActivations lists records; see Controller.ListActivations.
func (c *Client) ListActivations(ctx context.Context, id Identity, req ListActivationsRequest) ([]*activation.Record, error) {
	var out []*activation.Record
	err := c.call(ctx, MethodListActivations, c.timeout, listActivationsRequest{Identity: id, Request: req}, &out)
	return out, err
}

// ListDeadLetters lists dead letters; see Controller.ListDeadLetters.
func (c *Client) ListDeadLetters(ctx context.Context, id Identity, ns string, skip, limit int) ([]*activation.DeadLetter, error) {
	var out []*activation.DeadLetter
	err := c.call(ctx, MethodListDeadLetters, c.timeout, listDeadLettersRequest{Identity: id, Namespace: ns, Skip: skip, Limit: limit}, &out)
	return out, err
}

// GetDeadLetter returns a dead letter; see Controller.GetDeadLetter.
func (c *Client) GetDeadLetter(ctx context.Context, id Identity, ns, activationID string) (*activation.DeadLetter, error) {
	var dl activation.DeadLetter
	if err := c.call(ctx, MethodGetDeadLetter, c.timeout, getActivationRequest{Identity: id, Namespace: ns, ActivationID: activationID}, &dl); err != nil {
		return nil, err
	}
	return &dl, nil
}

// DeleteDeadLetter deletes a dead letter; see Controller.DeleteDeadLetter.
func (c *Client) DeleteDeadLetter(ctx context.Context, id Identity, ns, activationID string) (*activation.DeadLetter, error) {
	var dl activation.DeadLetter
	if err := c.call(ctx, MethodDeleteDeadLetter, c.timeout, getActivationRequest{Identity: id, Namespace: ns, ActivationID: activationID}, &dl); err != nil {
		return nil, err
	}
	return &dl, nil
}

// RedriveDeadLetter re-drives a dead letter; see Controller.RedriveDeadLetter.
func (c *Client) RedriveDeadLetter(ctx context.Context, id Identity, ns, activationID string) (*InvokeResult, error) {
	var res InvokeResult
	if err := c.call(ctx, MethodRedriveDeadLetter, c.timeout, getActivationRequest{Identity: id, Namespace: ns, ActivationID: activationID}, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// PutRoute creates or updates a route; see Controller.PutRoute.
func (c *Client) PutRoute(ctx context.Context, id Identity, req PutRouteRequest) (*entity.Route, error) {
	var r entity.Route
	if err := c.call(ctx, MethodPutRoute, c.timeout, putRouteRequest{Identity: id, Request: req}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// GetRoute returns a route; see Controller.GetRoute.
func (c *Client) GetRoute(ctx context.Context, id Identity, ns, name string) (*entity.Route, error) {
	var r entity.Route
	if err := c.call(ctx, MethodGetRoute, c.timeout, actionRequest{Identity: id, Namespace: ns, Name: name}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ListRoutes lists a namespace's routes; see Controller.ListRoutes.
func (c *Client) ListRoutes(ctx context.Context, id Identity, ns string) ([]*entity.Route, error) {
	var out []*entity.Route
	err := c.call(ctx, MethodListRoutes, c.timeout, listRoutesRequest{Identity: id, Namespace: ns}, &out)
	return out, err
}

// DeleteRoute deletes a route; see Controller.DeleteRoute.
func (c *Client) DeleteRoute(ctx context.Context, id Identity, ns, name string) (*entity.Route, error) {
	var r entity.Route
	if err := c.call(ctx, MethodDeleteRoute, c.timeout, actionRequest{Identity: id, Namespace: ns, Name: name}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// RouteTable returns a namespace's routes; see Controller.RouteTable. It
// costs one request per call: the gateway keeps what it compiles from a
// table by the table's revision.
func (c *Client) RouteTable(ctx context.Context, ns string) (*RouteTable, error) {
	var t RouteTable
	if err := c.call(ctx, MethodRouteTable, c.timeout, routeTableRequest{Namespace: ns}, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// WebAction returns an action for web-action dispatch; see
// Controller.WebAction.
func (c *Client) WebAction(ctx context.Context, ns, name string) (*entity.Action, error) {
	var a entity.Action
	if err := c.call(ctx, MethodWebAction, c.timeout, routeTableRequest{Namespace: ns, Name: name}, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// PutTrigger creates or updates a trigger; see Controller.PutTrigger.
func (c *Client) PutTrigger(ctx context.Context, id Identity, req PutTriggerRequest) (*entity.Trigger, error) {
	var t entity.Trigger
	if err := c.call(ctx, MethodPutTrigger, c.timeout, putTriggerRequest{Identity: id, Request: req}, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// GetTrigger returns a trigger; see Controller.GetTrigger.
func (c *Client) GetTrigger(ctx context.Context, id Identity, ns, name string) (*entity.Trigger, error) {
	var t entity.Trigger
	if err := c.call(ctx, MethodGetTrigger, c.timeout, actionRequest{Identity: id, Namespace: ns, Name: name}, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// ListTriggers lists triggers; see Controller.ListTriggers.
func (c *Client) ListTriggers(ctx context.Context, id Identity, ns string, skip, limit int) ([]*entity.Trigger, error) {
	var out []*entity.Trigger
	err := c.call(ctx, MethodListTriggers, c.timeout, listActionsRequest{Identity: id, Namespace: ns, Skip: skip, Limit: limit}, &out)
	return out, err
}

// DeleteTrigger deletes a trigger; see Controller.DeleteTrigger.
func (c *Client) DeleteTrigger(ctx context.Context, id Identity, ns, name string) (*entity.Trigger, error) {
	var t entity.Trigger
	if err := c.call(ctx, MethodDeleteTrigger, c.timeout, actionRequest{Identity: id, Namespace: ns, Name: name}, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// Fire fires a trigger; see Controller.Fire.
func (c *Client) Fire(ctx context.Context, id Identity, ns, trigger string, payload json.RawMessage, cause string) (FireResult, error) {
	if len(payload) > entity.MaxPayloadBytes {
		return FireResult{}, fmt.Errorf("fire %q: payload is %d bytes, over %d: %w", trigger, len(payload), entity.MaxPayloadBytes, ErrTooLarge)
	}
	if len(payload) > 0 && !json.Valid(payload) {
		return FireResult{}, fmt.Errorf("fire %q: %w: payload must be a JSON object", trigger, ErrInvalid)
	}
	var res FireResult
	err := c.call(ctx, MethodFireTrigger, c.timeout, fireRequest{Identity: id, Namespace: ns, Name: trigger, Payload: payload, Cause: cause}, &res)
	return res, err
}

// PutRule creates or updates a rule; see Controller.PutRule.
func (c *Client) PutRule(ctx context.Context, id Identity, req PutRuleRequest) (*entity.Rule, error) {
	var r entity.Rule
	if err := c.call(ctx, MethodPutRule, c.timeout, putRuleRequest{Identity: id, Request: req}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// GetRule returns a rule; see Controller.GetRule.
func (c *Client) GetRule(ctx context.Context, id Identity, ns, name string) (*entity.Rule, error) {
	var r entity.Rule
	if err := c.call(ctx, MethodGetRule, c.timeout, actionRequest{Identity: id, Namespace: ns, Name: name}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ListRules lists rules; see Controller.ListRules.
func (c *Client) ListRules(ctx context.Context, id Identity, ns string, skip, limit int) ([]*entity.Rule, error) {
	var out []*entity.Rule
	err := c.call(ctx, MethodListRules, c.timeout, listActionsRequest{Identity: id, Namespace: ns, Skip: skip, Limit: limit}, &out)
	return out, err
}

// DeleteRule deletes a rule; see Controller.DeleteRule.
func (c *Client) DeleteRule(ctx context.Context, id Identity, ns, name string) (*entity.Rule, error) {
	var r entity.Rule
	if err := c.call(ctx, MethodDeleteRule, c.timeout, actionRequest{Identity: id, Namespace: ns, Name: name}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// SetRuleStatus enables or disables a rule; see Controller.SetRuleStatus.
func (c *Client) SetRuleStatus(ctx context.Context, id Identity, ns, name, status string) (*entity.Rule, error) {
	var r entity.Rule
	req := ruleStatusRequest{Identity: id, Namespace: ns, Name: name, Status: status}
	if err := c.call(ctx, MethodSetRuleStatus, c.timeout, req, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// DeployApp deploys an app; see Controller.DeployApp. Code over
// InlineCodeMax goes to the code store first. The request waits for the
// register activation.
func (c *Client) DeployApp(ctx context.Context, id Identity, req DeployAppRequest) (*entity.App, error) {
	if len(req.Code) > entity.MaxCodeBytes {
		return nil, fmt.Errorf("app %q: code is %d bytes, over %d: %w", req.Name, len(req.Code), entity.MaxCodeBytes, ErrTooLarge)
	}
	if len(req.Code) > InlineCodeMax {
		digest, err := c.uploadCode(ctx, req.Code, req.CodeDigest)
		if err != nil {
			return nil, fmt.Errorf("app %q: %w", req.Name, err)
		}
		req.CodeDigest, req.Code = digest, nil
	}
	timeout := c.timeout + time.Duration(req.Limits.WithDefaults().Timeout)*time.Millisecond + registerWait
	var a entity.App
	if err := c.call(ctx, MethodDeployApp, timeout, deployAppRequest{Identity: id, Request: req}, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// GetApp returns an app; see Controller.GetApp.
func (c *Client) GetApp(ctx context.Context, id Identity, ns, name string) (*entity.App, error) {
	var a entity.App
	if err := c.call(ctx, MethodGetApp, c.timeout, actionRequest{Identity: id, Namespace: ns, Name: name}, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// ListApps lists a namespace's apps; see Controller.ListApps.
func (c *Client) ListApps(ctx context.Context, id Identity, ns string) ([]*entity.App, error) {
	var out []*entity.App
	err := c.call(ctx, MethodListApps, c.timeout, listRoutesRequest{Identity: id, Namespace: ns}, &out)
	return out, err
}

// DeleteApp deletes an app; see Controller.DeleteApp.
func (c *Client) DeleteApp(ctx context.Context, id Identity, ns, name string) (*entity.App, error) {
	var a entity.App
	if err := c.call(ctx, MethodDeleteApp, c.timeout, actionRequest{Identity: id, Namespace: ns, Name: name}, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// App returns an app for serving its routes; see Controller.App. It costs
// one request per call: the gateway keeps what it compiles from an app by
// the app's revision.
func (c *Client) App(ctx context.Context, name string) (*entity.App, error) {
	var a entity.App
	if err := c.call(ctx, MethodApp, c.timeout, routeTableRequest{Name: name}, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// InvokeApp serves one request of an app; see Controller.InvokeApp.
func (c *Client) InvokeApp(ctx context.Context, req AppRequest) (*InvokeResult, error) {
	if len(req.Params) > entity.MaxPayloadBytes {
		return nil, fmt.Errorf("app %q: the request is %d bytes, over %d: %w", req.App, len(req.Params), entity.MaxPayloadBytes, ErrTooLarge)
	}
	wait := req.Wait
	if wait <= 0 {
		wait = DefaultWait
	}
	var res InvokeResult
	if err := c.call(ctx, MethodInvokeApp, c.timeout+wait, req, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/flurryfn/flurry/internal/names"
)

// Serve answers the controller API (every gateway.Backend method) as NATS
// request/reply on names.ControllerAPISubject(method), in queue group
// names.ControllerQueue, so any number of controllers share the load.
// Requests and replies are JSON (see wire.go); errors travel as
// {code, message} and Client turns them back into the same sentinels.
//
// Each request runs in its own goroutine, so a blocking invoke does not
// hold up others. Requests run under a context that outlives ctx, so that
// a stop signal does not fail those in flight. stop drains: it stops
// taking requests (the other controllers of the queue group take them
// from then on), serves those already delivered, and waits for those in
// flight up to Config.DrainTimeout; past it, or at once when the NATS
// connection is closed, it ends waits in progress (their callers get a
// 202-style result) and waits for the rest.
func Serve(ctx context.Context, nc *nats.Conn, c *Controller) (stop func(), err error) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		stopped bool
		subs    []*nats.Subscription
	)
	stop = func() {
		drain, endDrain := context.WithTimeout(context.Background(), c.cfg.DrainTimeout)
		defer endDrain()
		if !nc.IsClosed() {
			// A drained subscription has handed over every request
			// delivered before the server took the unsubscription.
			for _, s := range subs {
				closed := s.StatusChanged(nats.SubscriptionClosed)
				if err := s.Drain(); err != nil {
					_ = s.Unsubscribe()
					continue
				}
				select {
				case <-closed:
				case <-drain.Done():
				}
			}
		}
		mu.Lock()
		stopped = true
		mu.Unlock()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		if nc.IsClosed() {
			cancel()
		}
		select {
		case <-done:
		case <-drain.Done():
			c.log.Warn("controller drain timed out; ending the waits in progress", "timeout", c.cfg.DrainTimeout)
		}
		cancel()
		<-done
	}
	hs := c.handlers()
	maps.Copy(hs, c.adminHandlers())
	for method, h := range hs {
		s, err := nc.QueueSubscribe(names.ControllerAPISubject(method), names.ControllerQueue, func(m *nats.Msg) {
			// Answering any reply subject would aim the controller's rights
			// at it: a caller could name a bucket's subject and overwrite a key.
			if !strings.HasPrefix(m.Reply, names.InboxRoot) {
				c.log.Warn("controller API request dropped: its reply subject is not an inbox", "method", method, "reply", m.Reply)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if stopped {
				return // the client times out and may retry elsewhere
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.serveOne(ctx, nc, method, h, m)
			}()
		})
		if err != nil {
			stop()
			return nil, fmt.Errorf("controller: serve %s: %w", method, err)
		}
		subs = append(subs, s)
	}
	if err := nc.Flush(); err != nil {
		stop()
		return nil, fmt.Errorf("controller: serve: %w", err)
	}
	return stop, nil
}

type handler func(ctx context.Context, data []byte) (any, error)

func (c *Controller) serveOne(ctx context.Context, nc *nats.Conn, method string, h handler, m *nats.Msg) {
	var resp response
	result, err := h(ctx, m.Data)
	if err == nil {
		resp.Result, err = json.Marshal(result)
	}
	if err != nil {
		resp.Error = toWire(err)
	}
	b, _ := json.Marshal(&resp)
	if int64(len(b)) > nc.MaxPayload() {
		resp = response{Error: toWire(fmt.Errorf("%s: reply of %d bytes is over the NATS max payload %d; ask for less: %w",
			method, len(b), nc.MaxPayload(), ErrTooLarge))}
		b, _ = json.Marshal(&resp)
	}
	if err := m.Respond(b); err != nil {
		c.log.Warn("api reply failed", "method", method, "err", err)
	}
}

// decode unmarshals a request; a malformed one is ErrInvalid.
func decode(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: malformed request: %v", ErrInvalid, err)
	}
	return nil
}

func (c *Controller) handlers() map[string]handler {
	return map[string]handler{
		MethodAuthenticate: func(ctx context.Context, data []byte) (any, error) {
			var r authenticateRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.Authenticate(ctx, r.Auth)
		},
		MethodPutAction: func(ctx context.Context, data []byte) (any, error) {
			var r putActionRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.PutAction(ctx, r.Identity, r.Request)
		},
		MethodGetAction: func(ctx context.Context, data []byte) (any, error) {
			var r actionRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			a, _, err := c.GetAction(ctx, r.Identity, r.Namespace, r.Name, false)
			if err != nil {
				return nil, err
			}
			resp := getActionResponse{Action: a}
			if r.WithCode && a.Exec.CodeDigest != "" && a.Exec.CodeSize <= InlineCodeMax {
				if resp.Code, err = c.codeOf(ctx, a); err != nil {
					return nil, err
				}
			}
			return resp, nil
		},
		MethodListActions: func(ctx context.Context, data []byte) (any, error) {
			var r listActionsRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.ListActions(ctx, r.Identity, r.Namespace, r.Skip, r.Limit)
		},
		MethodDeleteAction: func(ctx context.Context, data []byte) (any, error) {
			var r actionRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.DeleteAction(ctx, r.Identity, r.Namespace, r.Name)
		},
		MethodInvoke: func(ctx context.Context, data []byte) (any, error) {
			var r invokeRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.Invoke(ctx, r.Identity, r.Request)
		},
		MethodGetActivation: func(ctx context.Context, data []byte) (any, error) {
			var r getActivationRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.GetActivation(ctx, r.Identity, r.Namespace, r.ActivationID)
		},
		MethodListActivations: func(ctx context.Context, data []byte) (any, error) {
			var r listActivationsRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.ListActivations(ctx, r.Identity, r.Request)
		},
		MethodListDeadLetters: func(ctx context.Context, data []byte) (any, error) {
			var r listDeadLettersRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.ListDeadLetters(ctx, r.Identity, r.Namespace, r.Skip, r.Limit)
		},
		MethodGetDeadLetter: func(ctx context.Context, data []byte) (any, error) {
			var r getActivationRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.GetDeadLetter(ctx, r.Identity, r.Namespace, r.ActivationID)
		},
		MethodDeleteDeadLetter: func(ctx context.Context, data []byte) (any, error) {
			var r getActivationRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.DeleteDeadLetter(ctx, r.Identity, r.Namespace, r.ActivationID)
		},
		MethodRedriveDeadLetter: func(ctx context.Context, data []byte) (any, error) {
			var r getActivationRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.RedriveDeadLetter(ctx, r.Identity, r.Namespace, r.ActivationID)
		},
		// Triggers and rules (triggers.go, rules.go, fire.go).
		MethodPutTrigger: func(ctx context.Context, data []byte) (any, error) {
			var r putTriggerRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.PutTrigger(ctx, r.Identity, r.Request)
		},
		MethodGetTrigger: func(ctx context.Context, data []byte) (any, error) {
			var r actionRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.GetTrigger(ctx, r.Identity, r.Namespace, r.Name)
		},
		MethodListTriggers: func(ctx context.Context, data []byte) (any, error) {
			var r listActionsRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.ListTriggers(ctx, r.Identity, r.Namespace, r.Skip, r.Limit)
		},
		MethodDeleteTrigger: func(ctx context.Context, data []byte) (any, error) {
			var r actionRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.DeleteTrigger(ctx, r.Identity, r.Namespace, r.Name)
		},
		MethodFireTrigger: func(ctx context.Context, data []byte) (any, error) {
			var r fireRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.Fire(ctx, r.Identity, r.Namespace, r.Name, r.Payload, r.Cause)
		},
		MethodPutRule: func(ctx context.Context, data []byte) (any, error) {
			var r putRuleRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.PutRule(ctx, r.Identity, r.Request)
		},
		MethodGetRule: func(ctx context.Context, data []byte) (any, error) {
			var r actionRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.GetRule(ctx, r.Identity, r.Namespace, r.Name)
		},
		MethodListRules: func(ctx context.Context, data []byte) (any, error) {
			var r listActionsRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.ListRules(ctx, r.Identity, r.Namespace, r.Skip, r.Limit)
		},
		MethodDeleteRule: func(ctx context.Context, data []byte) (any, error) {
			var r actionRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.DeleteRule(ctx, r.Identity, r.Namespace, r.Name)
		},
		MethodSetRuleStatus: func(ctx context.Context, data []byte) (any, error) {
			var r ruleStatusRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.SetRuleStatus(ctx, r.Identity, r.Namespace, r.Name, r.Status)
		},
		MethodPutRoute: func(ctx context.Context, data []byte) (any, error) {
			var r putRouteRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.PutRoute(ctx, r.Identity, r.Request)
		},
		MethodGetRoute: func(ctx context.Context, data []byte) (any, error) {
			var r actionRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.GetRoute(ctx, r.Identity, r.Namespace, r.Name)
		},
		MethodListRoutes: func(ctx context.Context, data []byte) (any, error) {
			var r listRoutesRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.ListRoutes(ctx, r.Identity, r.Namespace)
		},
		MethodDeleteRoute: func(ctx context.Context, data []byte) (any, error) {
			var r actionRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.DeleteRoute(ctx, r.Identity, r.Namespace, r.Name)
		},
		MethodRouteTable: func(ctx context.Context, data []byte) (any, error) {
			var r routeTableRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.RouteTable(ctx, r.Namespace)
		},
		MethodWebAction: func(ctx context.Context, data []byte) (any, error) {
			var r routeTableRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.WebAction(ctx, r.Namespace, r.Name)
		},
		// Web apps (apps.go).
		MethodDeployApp: func(ctx context.Context, data []byte) (any, error) {
			var r deployAppRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.DeployApp(ctx, r.Identity, r.Request)
		},
		MethodGetApp: func(ctx context.Context, data []byte) (any, error) {
			var r actionRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.GetApp(ctx, r.Identity, r.Namespace, r.Name)
		},
		MethodListApps: func(ctx context.Context, data []byte) (any, error) {
			var r listRoutesRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.ListApps(ctx, r.Identity, r.Namespace)
		},
		MethodDeleteApp: func(ctx context.Context, data []byte) (any, error) {
			var r actionRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.DeleteApp(ctx, r.Identity, r.Namespace, r.Name)
		},
		MethodApp: func(ctx context.Context, data []byte) (any, error) {
			var r routeTableRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.App(ctx, r.Name)
		},
		MethodInvokeApp: func(ctx context.Context, data []byte) (any, error) {
			var r AppRequest
			if err := decode(data, &r); err != nil {
				return nil, err
			}
			return c.InvokeApp(ctx, r)
		},
	}
}

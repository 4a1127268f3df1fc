package controller

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
)

// Sequences (kind "sequence", exec.components) run in the controller that
// admitted them: it invokes each component, blocking, with the previous
// result as parameters, and writes the sequence's own record. A
// non-blocking sequence runs in the background of that controller: if it
// dies mid-chain the chain stops there and the sequence has no record
// (components already run keep theirs). See ADR 007.

const (
	// MaxSequenceComponents bounds a sequence's components (OpenWhisk's
	// default actionSequenceLimit).
	MaxSequenceComponents = 50
	// MaxSequenceDepth bounds sequences nested in sequences (and catches
	// a sequence that contains itself).
	MaxSequenceDepth = 10
	// componentWait bounds the wait for one component: the longest
	// timeout plus time to get a container.
	componentWait = entity.MaxTimeout + time.Minute
)

// validateSequence checks a sequence's exec: 1 to MaxSequenceComponents
// well-formed component names. Namespaces are checked at invoke.
func validateSequence(ns string, x entity.Exec) error {
	if len(x.Components) == 0 || len(x.Components) > MaxSequenceComponents {
		return fmt.Errorf("%w: a sequence has 1 to %d components, not %d", ErrInvalid, MaxSequenceComponents, len(x.Components))
	}
	for _, comp := range x.Components {
		parts := strings.Split(strings.TrimPrefix(comp, "/"), "/")
		if len(parts) > 2 {
			return fmt.Errorf("%w: sequence component %s: packages are not supported", ErrInvalid, quoteShort(comp))
		}
		for _, p := range parts {
			if !entity.ValidName(p) {
				return fmt.Errorf("%w: sequence component %s is not an action name", ErrInvalid, quoteShort(comp))
			}
		}
		// A component elsewhere could never run (invokeSequence refuses
		// it), so the sequence is refused now, with the reason.
		if len(parts) == 2 && parts[0] != "_" && parts[0] != ns {
			return fmt.Errorf("%w: sequence component %s is in another namespace than %q", ErrInvalid, quoteShort(comp), ns)
		}
	}
	return nil
}

type seqDepthKey struct{}

// invokeSequence starts sequence a: unknown or foreign components are
// refused before anything runs. The chain runs in the background; a
// blocking caller waits for its record as for an action's.
func (c *Controller) invokeSequence(ctx context.Context, id Identity, ns string, a *entity.Action, req InvokeRequest) (*InvokeResult, error) {
	params, err := mergeParams(a.Parameters, req.Params)
	if err != nil {
		return nil, fmt.Errorf("invoke %q: %w", req.Name, err)
	}
	if len(params) > entity.MaxPayloadBytes {
		return nil, fmt.Errorf("invoke %q: parameters with defaults are %d bytes, over %d: %w", req.Name, len(params), entity.MaxPayloadBytes, ErrTooLarge)
	}
	depth, _ := ctx.Value(seqDepthKey{}).(int)
	if depth >= MaxSequenceDepth {
		return nil, fmt.Errorf("invoke %q: %w: sequences nest deeper than %d", req.Name, ErrInvalid, MaxSequenceDepth)
	}
	comps := make([]string, len(a.Exec.Components))
	for i, s := range a.Exec.Components {
		if comps[i], err = entityName(ns, "sequence component", s); err != nil {
			return nil, fmt.Errorf("invoke %q: %w", req.Name, err)
		}
		if _, err := c.action(ctx, ns, comps[i]); err != nil {
			return nil, fmt.Errorf("invoke %q: component: %w", req.Name, err)
		}
	}
	aid := cmp.Or(req.activationID, activation.NewID())
	// The chain outlives a non-blocking request; Invoke's waits end on Close.
	runCtx := context.WithValue(context.WithoutCancel(ctx), seqDepthKey{}, depth+1)
	done := make(chan *activation.Record, 1)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		done <- c.runSequence(runCtx, id, ns, a, comps, params, aid, req.Cause, depth == 0)
	}()
	res := &InvokeResult{ActivationID: aid}
	if !req.Blocking {
		return res, nil
	}
	t := time.NewTimer(cmp.Or(req.Wait, c.cfg.DefaultWait))
	defer t.Stop()
	select {
	case res.Record = <-done:
	case <-t.C:
	case <-ctx.Done():
	case <-c.done:
	}
	return res, nil
}

// runSequence runs the components in order and writes and returns the
// sequence's record: logs are the component activation ids, the response
// is the last component's, or the first failure's (which ends the chain).
func (c *Controller) runSequence(ctx context.Context, id Identity, ns string, a *entity.Action, comps []string,
	params json.RawMessage, aid, cause string, topmost bool) *activation.Record {
	log := c.log.With("activation", aid, "namespace", ns, "sequence", a.Name)
	rec := &activation.Record{
		ActivationID: aid,
		Namespace:    ns,
		Name:         a.Name,
		Version:      a.Version,
		Subject:      id.UUID,
		Start:        now(),
		Logs:         []string{},
		Annotations:  []entity.KeyValue{},
		Publish:      a.Publish,
		Cause:        cause,
	}
	cur := params
	resp := activation.NewResponse(activation.StatusSuccess, cur)
	for i, comp := range comps {
		ir, err := c.Invoke(ctx, id, InvokeRequest{Namespace: ns, Name: comp, Params: cur, Blocking: true,
			Wait: componentWait, Cause: aid, activationID: derivedID(aid, strconv.Itoa(i))})
		if err != nil {
			resp = activation.NewResponse(fireStatus(err),
				activation.ErrorResult(fmt.Sprintf("sequence component %q did not start: %v", comp, err)))
			break
		}
		rec.Logs = append(rec.Logs, ir.ActivationID)
		if ir.Record == nil {
			resp = activation.NewResponse(activation.StatusInternalError,
				activation.ErrorResult(fmt.Sprintf("sequence component %q (activation %s) did not finish", comp, ir.ActivationID)))
			break
		}
		resp = ir.Record.Response
		if resp.StatusCode != activation.StatusSuccess {
			break
		}
		cur = resp.Result
		if len(cur) == 0 {
			cur = json.RawMessage("{}")
		}
	}
	rec.Response = resp
	rec.End = now()
	rec.Duration = rec.End - rec.Start
	rec.Annotate(activation.AnnotationPath, ns+"/"+a.Name)
	rec.Annotate(activation.AnnotationKind, entity.KindSequence)
	rec.Annotate(activation.AnnotationLimits, a.Limits)
	rec.Annotate("topmost", topmost)
	if cause != "" {
		rec.Annotate(activation.AnnotationCausedBy, cause)
	}
	if err := c.writeRecord(ctx, rec); err != nil {
		log.Error("sequence record not written", "err", err)
	}
	log.Info("sequence finished", "status", activation.StatusText(resp.StatusCode), "components", len(rec.Logs))
	return rec
}

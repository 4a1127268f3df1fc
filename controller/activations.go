package controller

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
)

// GetActivation returns the record of activation activationID.
// Errors: ErrNotFound (unknown, not finished, or expired), ErrInvalid,
// ErrForbidden.
func (c *Controller) GetActivation(ctx context.Context, id Identity, ns, activationID string) (*activation.Record, error) {
	ns, err := namespace(id, ns)
	if err != nil {
		return nil, err
	}
	if !activation.ValidID(activationID) {
		return nil, fmt.Errorf("activation id %s: %w", quoteShort(activationID), ErrInvalid)
	}
	m, err := c.records.GetLastMsgForSubject(ctx, names.RecordSubject(ns, activationID))
	if isNotFound(err) {
		return nil, fmt.Errorf("activation %s in namespace %q: %w", activationID, ns, ErrNotFound)
	}
	if err != nil {
		return nil, unavailable("get activation", err)
	}
	var r activation.Record
	if err := activation.DecodeRecord(m.Data, &r); err != nil {
		return nil, fmt.Errorf("activation %s: bad record: %w", activationID, err)
	}
	return &r, nil
}

// lookupRecord reads a record, or returns nil if there is none (yet).
func (c *Controller) lookupRecord(ctx context.Context, ns, activationID string) *activation.Record {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	r, err := c.GetActivation(ctx, Identity{Namespace: ns}, ns, activationID)
	if err != nil {
		return nil
	}
	return r
}

// ListActivations returns the namespace's records, newest start first,
// filtered by req.Name, Since and Upto, paged by Skip and Limit.
//
// Records live in one stream in arrival order (about their end time). The
// scan reads the namespace's records from a start sequence to the end of
// the stream, starting near the end and moving the start back (×8) until
// the page is certain: a record before the start arrived before the first
// scanned one, so it started before that one arrived, and every scanned
// record that started later than that is in its right place. So a listing
// reads about as many records as it returns, plus what arrived since.
// Since, when given, starts the scan at that time instead.
//
// Errors: ErrInvalid (bounds), ErrForbidden.
func (c *Controller) ListActivations(ctx context.Context, id Identity, req ListActivationsRequest) ([]*activation.Record, error) {
	ns, err := namespace(id, req.Namespace)
	if err != nil {
		return nil, err
	}
	limit, err := listBounds(req.Skip, req.Limit)
	if err != nil {
		return nil, err
	}
	if req.Since < 0 || req.Upto < 0 || req.Since > MaxTimeMs || req.Upto > MaxTimeMs || (req.Upto > 0 && req.Since > req.Upto) {
		return nil, fmt.Errorf("%w: since %d and upto %d do not make a time range in [0, %d] ms", ErrInvalid, req.Since, req.Upto, MaxTimeMs)
	}
	if req.Name != "" && !entity.ValidName(req.Name) {
		return nil, fmt.Errorf("action name %s: %w", quoteShort(req.Name), ErrInvalid)
	}
	need := req.Skip + limit
	keep := func(r *activation.Record) bool {
		return (req.Name == "" || r.Name == req.Name) &&
			(req.Since == 0 || r.Start >= req.Since) &&
			(req.Upto == 0 || r.Start <= req.Upto)
	}

	var recs []*activation.Record
	if req.Since > 0 {
		// A record that started at or after Since arrived after it.
		recs, _, err = c.scanRecords(ctx, ns, jetstream.ConsumerConfig{
			DeliverPolicy: jetstream.DeliverByStartTimePolicy,
			OptStartTime:  ptr(time.UnixMilli(req.Since).Add(-sinceSlack)),
		}, keep)
		if err != nil {
			return nil, err
		}
	} else {
		info, err := c.records.Info(ctx)
		if err != nil {
			return nil, unavailable("list activations", err)
		}
		first, last := info.State.FirstSeq, info.State.LastSeq
		window := uint64(max(4*need, 256))
		for {
			start := first
			if last >= first+window {
				start = last - window + 1
			}
			var firstArrival time.Time
			recs, firstArrival, err = c.scanRecords(ctx, ns, jetstream.ConsumerConfig{
				DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
				OptStartSeq:   max(start, 1),
			}, keep)
			if err != nil {
				return nil, err
			}
			if start <= first || certain(recs, firstArrival) >= need {
				break
			}
			window *= 8
		}
	}
	// Newest first; among equal starts, the later arrival first.
	slices.Reverse(recs)
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].Start > recs[j].Start })
	recs = recs[min(req.Skip, len(recs)):]
	return recs[:min(limit, len(recs))], nil
}

// Allowance for invokers' clocks (record start times) running ahead of the
// NATS server's (arrival times). clockSkew is small because every record
// of the last clockSkew is read on each listing; past it, a listing may
// misorder records by that much. sinceSlack is generous: it only moves
// the start of a scan that has a lower bound anyway.
const (
	clockSkew  = 100 * time.Millisecond
	sinceSlack = time.Minute
)

// certain counts records that started after the first scanned record
// arrived: no record before the scan can sort above them.
func certain(recs []*activation.Record, firstArrival time.Time) int {
	if firstArrival.IsZero() {
		return 0
	}
	after := firstArrival.Add(clockSkew).UnixMilli()
	n := 0
	for _, r := range recs {
		if r.Start > after {
			n++
		}
	}
	return n
}

// scanRecords reads the namespace's records from where cfg says to the
// end of the stream as it is now, keeping those keep accepts. It also
// returns the arrival time of the first record read.
func (c *Controller) scanRecords(ctx context.Context, ns string, cfg jetstream.ConsumerConfig, keep func(*activation.Record) bool) ([]*activation.Record, time.Time, error) {
	cfg.FilterSubject = names.RecordNamespaceSubject(ns)
	cfg.AckPolicy = jetstream.AckNonePolicy
	cfg.MemoryStorage = true
	cfg.InactiveThreshold = time.Minute
	cons, err := c.js.CreateConsumer(ctx, names.RecordsStream, cfg)
	if err != nil {
		return nil, time.Time{}, unavailable("list activations", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_ = c.js.DeleteConsumer(dctx, names.RecordsStream, cons.CachedInfo().Name)
		cancel()
	}()
	pending := int(cons.CachedInfo().NumPending)
	var out []*activation.Record
	var firstArrival time.Time
	for pending > 0 {
		batch, err := cons.Fetch(min(pending, 1000), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, time.Time{}, unavailable("list activations", err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			if md, err := m.Metadata(); err == nil && firstArrival.IsZero() {
				firstArrival = md.Timestamp
			}
			var r activation.Record
			if err := activation.DecodeRecord(m.Data(), &r); err != nil {
				c.log.Warn("bad record", "subject", m.Subject(), "err", err)
				continue
			}
			if keep(&r) {
				out = append(out, &r)
			}
		}
		if err := batch.Error(); err != nil {
			return nil, time.Time{}, unavailable("list activations", err)
		}
		if got == 0 {
			break
		}
		pending -= got
	}
	return out, firstArrival, nil
}

func ptr[T any](v T) *T { return &v }

package controller

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/names"
)

var hexDigest = regexp.MustCompile(`^[0-9a-f]{64}$`)

// PutAction creates an action, or with req.Overwrite makes a new revision
// of it. On update, an empty Exec.Kind keeps the exec and code, empty code
// keeps the code, nil parameters or annotations keep them, zero limit
// fields keep the old limits, and a nil retry policy or destinations keep
// them (a zero one removes them).
//
// Errors: ErrInvalid (names, kind, limits, code, retry policy,
// destinations, which must be inside the namespace's event space),
// ErrUnavailable, ErrTooLarge (code over
// entity.MaxCodeBytes), ErrExists (exists and !Overwrite), ErrConflict
// (changed concurrently), ErrForbidden.
func (c *Controller) PutAction(ctx context.Context, id Identity, req PutActionRequest) (*entity.Action, error) {
	ns, err := actionRef(id, req.Namespace, req.Name)
	if err != nil {
		return nil, err
	}
	if len(req.Code) > entity.MaxCodeBytes {
		return nil, fmt.Errorf("action %q: code is %d bytes, over %d: %w", req.Name, len(req.Code), entity.MaxCodeBytes, ErrTooLarge)
	}
	key := names.ActionKey(ns, req.Name)

	var old *entity.Action
	var oldRev uint64
	if req.Overwrite {
		e, err := c.actions.Get(ctx, key)
		switch {
		case isNotFound(err):
		case err != nil:
			return nil, unavailable("put action", err)
		default:
			if old, err = decodeAction(e); err != nil {
				return nil, fmt.Errorf("put action: stored %s: %w", key, err)
			}
			oldRev = e.Revision()
		}
	}

	a := &entity.Action{
		Namespace:   ns,
		Name:        req.Name,
		Version:     "0.0.1",
		Exec:        req.Exec,
		Parameters:  req.Parameters,
		Limits:      req.Limits,
		Annotations: req.Annotations,
		Publish:     req.Publish,
		Updated:     now(),
		// Flurry's extensions; see validateAsync.
		Retry:        req.Retry,
		Destinations: req.Destinations,
	}
	code := req.Code
	if old != nil {
		a.Version = nextVersion(old.Version)
		if a.Exec.Kind == "" {
			a.Exec = old.Exec
		} else if len(code) == 0 && a.Exec.CodeDigest == "" {
			a.Exec.CodeDigest, a.Exec.CodeSize = old.Exec.CodeDigest, old.Exec.CodeSize
		}
		if a.Parameters == nil {
			a.Parameters = old.Parameters
		}
		if a.Annotations == nil {
			a.Annotations = old.Annotations
		}
		a.Limits = mergeLimits(a.Limits, old.Limits)
		if a.Retry == nil {
			a.Retry = old.Retry
		}
		if a.Destinations == nil {
			a.Destinations = old.Destinations
		}
	}
	a.Limits = a.Limits.WithDefaults()
	if err := a.Limits.Validate(); err != nil {
		return nil, fmt.Errorf("action %q: %w: %w", req.Name, ErrInvalid, err)
	}
	if err := validateAsync(a); err != nil {
		return nil, fmt.Errorf("action %q: %w", req.Name, err)
	}
	if err := c.checkDestinations(ctx, ns, a.Destinations); err != nil {
		return nil, fmt.Errorf("action %q: %w", req.Name, err)
	}
	if err := entity.ValidateParameters(a.Parameters); err != nil {
		return nil, fmt.Errorf("action %q: %w: %w", req.Name, ErrInvalid, err)
	}
	if len(code) > 0 {
		if err := entity.ValidateCode(a.Exec, code); err != nil {
			return nil, fmt.Errorf("action %q: %w: %w", req.Name, ErrInvalid, err)
		}
	}
	if a.Parameters == nil {
		a.Parameters = []entity.KeyValue{}
	}
	if a.Annotations == nil {
		a.Annotations = []entity.KeyValue{}
	}
	if err := c.storeCode(ctx, &a.Exec, code); err != nil {
		return nil, fmt.Errorf("action %q: %w", req.Name, err)
	}
	if err := validateExec(ns, a.Exec); err != nil {
		return nil, fmt.Errorf("action %q: %w", req.Name, err)
	}

	b, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("put action: %w", err)
	}
	var rev uint64
	switch {
	case old != nil:
		if c.beforeUpdate != nil {
			c.beforeUpdate()
		}
		rev, err = c.actions.Update(ctx, key, b, oldRev)
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
			return nil, fmt.Errorf("action %q in namespace %q: %w", req.Name, ns, ErrConflict)
		}
	default:
		rev, err = c.actions.Create(ctx, key, b)
		if errors.Is(err, jetstream.ErrKeyExists) {
			if req.Overwrite {
				// It appeared between our read and our write.
				return nil, fmt.Errorf("action %q in namespace %q: %w", req.Name, ns, ErrConflict)
			}
			return nil, fmt.Errorf("action %q in namespace %q: %w", req.Name, ns, ErrExists)
		}
	}
	if err != nil {
		return nil, unavailable("put action", err)
	}
	a.Revision = rev
	c.cache.put(key, a, rev)
	c.log.Info("action stored", "namespace", ns, "action", a.Name, "version", a.Version, "revision", rev)
	return a, nil
}

// mergeLimits fills zero fields of l from old.
func mergeLimits(l, old entity.Limits) entity.Limits {
	if l.Timeout == 0 {
		l.Timeout = old.Timeout
	}
	if l.Memory == 0 {
		l.Memory = old.Memory
	}
	if l.Concurrency == 0 {
		l.Concurrency = old.Concurrency
	}
	if l.Logs == 0 {
		l.Logs = old.Logs
	}
	return l
}

// nextVersion turns "0.0.N" into "0.0.N+1".
func nextVersion(v string) string {
	i := strings.LastIndexByte(v, '.')
	n, err := strconv.Atoi(v[i+1:])
	if err != nil {
		n = 0
	}
	return v[:i+1] + strconv.Itoa(n+1)
}

// validateExec checks the kind's requirements (the kind table in
// internal/entity) once code is resolved.
func validateExec(ns string, x entity.Exec) error {
	if x.Kind == entity.KindSequence {
		return validateSequence(ns, x) // sequences.go
	}
	if err := entity.ValidateExec(x); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// codeReplicaLag bounds how long a replica of the code store may lag the
// leader that acknowledged a put.
const codeReplicaLag = time.Second

// codeInfoAfterPut is the code store's info of digest, which a client
// has just put there. Object store reads are direct gets that any
// replica answers, and one may not have applied a put its leader has
// acknowledged yet: "not found" is believed only after codeReplicaLag.
func (c *Controller) codeInfoAfterPut(ctx context.Context, digest string) (*jetstream.ObjectInfo, error) {
	deadline := time.Now().Add(codeReplicaLag)
	for {
		info, err := c.code.GetInfo(ctx, names.CodeName(digest))
		if !isNotFound(err) || time.Now().After(deadline) {
			return info, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// storeCode puts code into the code store (unless it is there already)
// and records its digest in x; with no code it checks that a given
// x.CodeDigest names stored code.
func (c *Controller) storeCode(ctx context.Context, x *entity.Exec, code []byte) error {
	if len(code) == 0 {
		if x.CodeDigest == "" {
			x.CodeSize = 0
			return nil
		}
		if !hexDigest.MatchString(x.CodeDigest) {
			return fmt.Errorf("%w: code digest %q is not a hex sha256", ErrInvalid, x.CodeDigest)
		}
		info, err := c.codeInfoAfterPut(ctx, x.CodeDigest)
		if isNotFound(err) {
			return fmt.Errorf("%w: code %s is not in the code store", ErrInvalid, x.CodeDigest)
		}
		if err != nil {
			return unavailable("code store", err)
		}
		x.CodeSize = int64(info.Size)
		return nil
	}
	if x.Binary {
		if _, err := base64.StdEncoding.DecodeString(string(code)); err != nil {
			return fmt.Errorf("%w: binary code is not base64: %v", ErrInvalid, err)
		}
	}
	sum := sha256.Sum256(code)
	digest := hex.EncodeToString(sum[:])
	if x.CodeDigest != "" && x.CodeDigest != digest {
		return fmt.Errorf("%w: code digest %s does not match the code (%s)", ErrInvalid, x.CodeDigest, digest)
	}
	x.CodeDigest, x.CodeSize = digest, int64(len(code))
	_, err := c.code.GetInfo(ctx, names.CodeName(digest))
	if err == nil {
		return nil
	}
	if !isNotFound(err) {
		return unavailable("code store", err)
	}
	if _, err := c.code.PutBytes(ctx, names.CodeName(digest), code); err != nil {
		return unavailable("code store", err)
	}
	return nil
}

// GetAction returns the action and, when withCode, its code.
// Errors: ErrNotFound, ErrForbidden, ErrInvalid.
func (c *Controller) GetAction(ctx context.Context, id Identity, ns, name string, withCode bool) (*entity.Action, []byte, error) {
	ns, err := actionRef(id, ns, name)
	if err != nil {
		return nil, nil, err
	}
	a, err := c.loadAction(ctx, ns, name)
	if err != nil {
		return nil, nil, err
	}
	if !withCode || a.Exec.CodeDigest == "" {
		return a, nil, nil
	}
	code, err := c.codeOf(ctx, a)
	if err != nil {
		return nil, nil, err
	}
	return a, code, nil
}

// codeOf reads an action's code from the code store.
func (c *Controller) codeOf(ctx context.Context, a *entity.Action) ([]byte, error) {
	code, err := c.code.GetBytes(ctx, names.CodeName(a.Exec.CodeDigest))
	if err != nil {
		return nil, unavailable(fmt.Sprintf("code of action %q", a.Name), err)
	}
	return code, nil
}

// loadAction reads an action from the KV (not the cache), for reads that
// must see the latest write of any controller.
func (c *Controller) loadAction(ctx context.Context, ns, name string) (*entity.Action, error) {
	key := names.ActionKey(ns, name)
	e, err := c.actions.Get(ctx, key)
	if isNotFound(err) {
		return nil, fmt.Errorf("action %q in namespace %q: %w", name, ns, ErrNotFound)
	}
	if err != nil {
		return nil, unavailable("get action", err)
	}
	a, err := decodeAction(e)
	if err != nil {
		return nil, fmt.Errorf("get action: stored %s: %w", key, err)
	}
	c.cache.put(key, a, e.Revision())
	return a, nil
}

// ListActions returns the namespace's actions sorted by name.
// Errors: ErrInvalid (bad skip or limit), ErrForbidden.
func (c *Controller) ListActions(ctx context.Context, id Identity, ns string, skip, limit int) ([]*entity.Action, error) {
	ns, err := namespace(id, ns)
	if err != nil {
		return nil, err
	}
	if limit, err = listBounds(skip, limit); err != nil {
		return nil, err
	}
	lister, err := c.actions.ListKeysFiltered(ctx, names.ActionKeyPrefix(ns))
	if err != nil {
		return nil, unavailable("list actions", err)
	}
	type ref struct{ key, name string }
	var refs []ref
	for k := range lister.Keys() {
		_, tok, _ := strings.Cut(k, ".")
		refs = append(refs, ref{key: k, name: untoken(tok)})
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].name < refs[j].name })
	out := []*entity.Action{}
	for _, r := range refs[min(skip, len(refs)):] {
		if len(out) == limit {
			break
		}
		e, err := c.actions.Get(ctx, r.key)
		if isNotFound(err) {
			continue // deleted since listed
		}
		if err != nil {
			return nil, unavailable("list actions", err)
		}
		a, err := decodeAction(e)
		if err != nil {
			c.log.Warn("bad action entry", "key", r.key, "err", err)
			continue
		}
		out = append(out, a)
	}
	return out, nil
}

// untoken reverses names.Token.
func untoken(tok string) string {
	if s, ok := strings.CutPrefix(tok, "="); ok {
		if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
			return string(b)
		}
	}
	return tok
}

// listBounds checks skip and limit and returns the effective limit.
func listBounds(skip, limit int) (int, error) {
	if skip < 0 {
		return 0, fmt.Errorf("%w: skip %d is negative", ErrInvalid, skip)
	}
	if limit < 0 || limit > MaxListLimit {
		return 0, fmt.Errorf("%w: limit %d is outside [0, %d]", ErrInvalid, limit, MaxListLimit)
	}
	if limit == 0 {
		limit = DefaultListLimit
	}
	return limit, nil
}

// DeleteAction removes the action and returns what was deleted. Its code
// stays in the content-addressed code store (other actions may share it).
// Errors: ErrNotFound, ErrConflict, ErrForbidden.
func (c *Controller) DeleteAction(ctx context.Context, id Identity, ns, name string) (*entity.Action, error) {
	ns, err := actionRef(id, ns, name)
	if err != nil {
		return nil, err
	}
	a, err := c.loadAction(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	key := names.ActionKey(ns, name)
	err = c.actions.Delete(ctx, key, jetstream.LastRevision(a.Revision))
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
		return nil, fmt.Errorf("action %q in namespace %q: %w", name, ns, ErrConflict)
	}
	if err != nil {
		return nil, unavailable("delete action", err)
	}
	// The delete marker's revision is unknown here but above a.Revision,
	// and every later write is above the marker.
	c.cache.remove(key, a.Revision+1)
	c.log.Info("action deleted", "namespace", ns, "action", name, "revision", a.Revision)
	return a, nil
}

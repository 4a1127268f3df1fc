package gateway

import (
	"context"

	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/internal/activation"
	"github.com/flurryfn/flurry/internal/entity"
)

// Backend is what the gateway needs of the controller. *controller.Controller
// implements it in process (standalone) and *controller.Client over NATS
// (a separate `flurry gateway`).
//
// Methods return the controller's sentinel errors (controller.ErrNotFound,
// ...), possibly wrapped; the gateway maps them to status codes in
// errors.go and nowhere else. A namespace argument of "_" means the
// caller's own namespace. All methods are safe for concurrent use.
type Backend interface {
	// Authenticate checks "uuid:key" and returns the caller.
	Authenticate(ctx context.Context, auth string) (controller.Identity, error)
	PutAction(ctx context.Context, id controller.Identity, req controller.PutActionRequest) (*entity.Action, error)
	// GetAction returns the action and, when withCode, its code.
	GetAction(ctx context.Context, id controller.Identity, ns, name string, withCode bool) (*entity.Action, []byte, error)
	ListActions(ctx context.Context, id controller.Identity, ns string, skip, limit int) ([]*entity.Action, error)
	DeleteAction(ctx context.Context, id controller.Identity, ns, name string) (*entity.Action, error)
	Invoke(ctx context.Context, id controller.Identity, req controller.InvokeRequest) (*controller.InvokeResult, error)
	GetActivation(ctx context.Context, id controller.Identity, ns, activationID string) (*activation.Record, error)
	ListActivations(ctx context.Context, id controller.Identity, req controller.ListActivationsRequest) ([]*activation.Record, error)
}

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
	// Dead letters: asynchronous activations that failed after their last
	// attempt. ListDeadLetters returns summaries, newest first;
	// RedriveDeadLetter starts a new asynchronous activation with the
	// same params and removes the entry.
	ListDeadLetters(ctx context.Context, id controller.Identity, ns string, skip, limit int) ([]*activation.DeadLetter, error)
	GetDeadLetter(ctx context.Context, id controller.Identity, ns, activationID string) (*activation.DeadLetter, error)
	DeleteDeadLetter(ctx context.Context, id controller.Identity, ns, activationID string) (*activation.DeadLetter, error)
	RedriveDeadLetter(ctx context.Context, id controller.Identity, ns, activationID string) (*controller.InvokeResult, error)
	// Triggers and rules (gateway/triggers.go).
	TriggerBackend
	// HTTP routes (ADR 009): PutRoute, GetRoute, ListRoutes and DeleteRoute
	// manage a namespace's routes for its key holders.
	PutRoute(ctx context.Context, id controller.Identity, req controller.PutRouteRequest) (*entity.Route, error)
	GetRoute(ctx context.Context, id controller.Identity, ns, name string) (*entity.Route, error)
	ListRoutes(ctx context.Context, id controller.Identity, ns string) ([]*entity.Route, error)
	DeleteRoute(ctx context.Context, id controller.Identity, ns, name string) (*entity.Route, error)
	// RouteTable returns every route of namespace ns (not "_") without an
	// identity: the gateway serves public routes to anyone. The table is
	// shared and must not be modified.
	RouteTable(ctx context.Context, ns string) (*controller.RouteTable, error)
	// WebAction returns action name of namespace ns without an identity,
	// for web-action dispatch by its annotations; ErrNotFound when absent.
	// The gateway must not show it to the client.
	WebAction(ctx context.Context, ns, name string) (*entity.Action, error)
	// Web apps (ADR 010): DeployApp, GetApp, ListApps and DeleteApp manage
	// a namespace's apps for its key holders; App returns an app without
	// an identity (apps are public) and InvokeApp serves one request.
	DeployApp(ctx context.Context, id controller.Identity, req controller.DeployAppRequest) (*entity.App, error)
	GetApp(ctx context.Context, id controller.Identity, ns, name string) (*entity.App, error)
	ListApps(ctx context.Context, id controller.Identity, ns string) ([]*entity.App, error)
	DeleteApp(ctx context.Context, id controller.Identity, ns, name string) (*entity.App, error)
	App(ctx context.Context, name string) (*entity.App, error)
	InvokeApp(ctx context.Context, req controller.AppRequest) (*controller.InvokeResult, error)
}

package controller

import (
	"encoding/json"
	"errors"

	"github.com/flurryfn/flurry/internal/entity"
)

// Methods of the controller's NATS API; the request subject of method m is
// names.ControllerAPISubject(m).
const (
	MethodAuthenticate    = "authenticate"
	MethodPutAction       = "putAction"
	MethodGetAction       = "getAction"
	MethodListActions     = "listActions"
	MethodDeleteAction    = "deleteAction"
	MethodInvoke          = "invoke"
	MethodGetActivation   = "getActivation"
	MethodListActivations = "listActivations"
	// Dead letters (deadletter.go).
	MethodListDeadLetters   = "listDeadLetters"
	MethodGetDeadLetter     = "getDeadLetter"
	MethodDeleteDeadLetter  = "deleteDeadLetter"
	MethodRedriveDeadLetter = "redriveDeadLetter"
	// HTTP routes and web actions (routes.go).
	MethodPutRoute    = "putRoute"
	MethodGetRoute    = "getRoute"
	MethodListRoutes  = "listRoutes"
	MethodDeleteRoute = "deleteRoute"
	MethodRouteTable  = "routeTable"
	MethodWebAction   = "webAction"
	// Web apps (apps.go).
	MethodDeployApp = "deployApp"
	MethodGetApp    = "getApp"
	MethodListApps  = "listApps"
	MethodDeleteApp = "deleteApp"
	MethodApp       = "app"
	MethodInvokeApp = "invokeApp"
)

// InlineCodeMax is the largest code carried inside an API message; larger
// code travels through the code store (names.CodeStore), by digest.
const InlineCodeMax = 512 << 10

// Requests of the NATS API. The API is internal (gateways to controllers):
// it trusts the Identity a gateway got from Authenticate.
type (
	authenticateRequest struct {
		Auth string `json:"auth"`
	}
	putActionRequest struct {
		Identity Identity         `json:"identity"`
		Request  PutActionRequest `json:"request"`
	}
	actionRequest struct {
		Identity  Identity `json:"identity"`
		Namespace string   `json:"namespace"`
		Name      string   `json:"name"`
		WithCode  bool     `json:"withCode,omitempty"`
	}
	getActionResponse struct {
		Action *entity.Action `json:"action"`
		// Code is set when asked for and at most InlineCodeMax bytes;
		// otherwise the client reads Action.Exec.CodeDigest from the store.
		Code []byte `json:"code,omitempty"`
	}
	listActionsRequest struct {
		Identity  Identity `json:"identity"`
		Namespace string   `json:"namespace"`
		Skip      int      `json:"skip"`
		Limit     int      `json:"limit"`
	}
	invokeRequest struct {
		Identity Identity      `json:"identity"`
		Request  InvokeRequest `json:"request"`
	}
	getActivationRequest struct {
		Identity     Identity `json:"identity"`
		Namespace    string   `json:"namespace"`
		ActivationID string   `json:"activationId"`
	}
	listActivationsRequest struct {
		Identity Identity               `json:"identity"`
		Request  ListActivationsRequest `json:"request"`
	}
	// listDeadLettersRequest pages a namespace's dead letters; single ones
	// are named by getActivationRequest.
	listDeadLettersRequest struct {
		Identity  Identity `json:"identity"`
		Namespace string   `json:"namespace"`
		Skip      int      `json:"skip"`
		Limit     int      `json:"limit"`
	}
)

// Requests of the route methods; getRoute and deleteRoute use
// actionRequest, routeTable and webAction name no identity.
type (
	putRouteRequest struct {
		Identity Identity        `json:"identity"`
		Request  PutRouteRequest `json:"request"`
	}
	listRoutesRequest struct {
		Identity  Identity `json:"identity"`
		Namespace string   `json:"namespace"`
	}
	routeTableRequest struct {
		Namespace string `json:"namespace"`
		// Name is the action of a webAction request.
		Name string `json:"name,omitempty"`
	}
)

// Requests of the app methods; getApp and deleteApp use actionRequest,
// listApps listRoutesRequest, app routeTableRequest (Name) and invokeApp
// AppRequest itself.
type deployAppRequest struct {
	Identity Identity         `json:"identity"`
	Request  DeployAppRequest `json:"request"`
}

// response is every API reply: a result or an error.
type response struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  *wireError      `json:"error,omitempty"`
}

// wireError carries an error: code names the sentinel, message is the
// full text of the server's error.
type wireError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

var errorCodes = []struct {
	code string
	err  error
}{
	{"unauthenticated", ErrUnauthenticated},
	{"forbidden", ErrForbidden},
	{"not_found", ErrNotFound},
	{"exists", ErrExists},
	{"conflict", ErrConflict},
	{"invalid", ErrInvalid},
	{"too_large", ErrTooLarge},
	{"throttled", ErrThrottled},
	{"unavailable", ErrUnavailable},
	{"key_reused", ErrKeyReused},
	{"key_unresolved", ErrKeyUnresolved},
}

func toWire(err error) *wireError {
	for _, e := range errorCodes {
		if errors.Is(err, e.err) {
			return &wireError{Code: e.code, Message: err.Error()}
		}
	}
	return &wireError{Code: "internal", Message: err.Error()}
}

// remoteError is an error returned by a remote controller; errors.Is
// matches the same sentinel as the server's error did.
type remoteError struct {
	msg      string
	sentinel error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }

func fromWire(w *wireError) error {
	for _, e := range errorCodes {
		if w.Code == e.code {
			return &remoteError{msg: w.Message, sentinel: e.err}
		}
	}
	return &remoteError{msg: w.Message}
}

// Triggers and rules over the NATS API (get, delete and list requests use
// actionRequest and listActionsRequest).
const (
	MethodPutTrigger    = "putTrigger"
	MethodGetTrigger    = "getTrigger"
	MethodListTriggers  = "listTriggers"
	MethodDeleteTrigger = "deleteTrigger"
	MethodFireTrigger   = "fireTrigger"
	MethodPutRule       = "putRule"
	MethodGetRule       = "getRule"
	MethodListRules     = "listRules"
	MethodDeleteRule    = "deleteRule"
	MethodSetRuleStatus = "setRuleStatus"
)

type (
	putTriggerRequest struct {
		Identity Identity          `json:"identity"`
		Request  PutTriggerRequest `json:"request"`
	}
	putRuleRequest struct {
		Identity Identity       `json:"identity"`
		Request  PutRuleRequest `json:"request"`
	}
	fireRequest struct {
		Identity  Identity        `json:"identity"`
		Namespace string          `json:"namespace"`
		Name      string          `json:"name"`
		Payload   json.RawMessage `json:"payload,omitempty"`
		Cause     string          `json:"cause,omitempty"`
	}
	ruleStatusRequest struct {
		Identity  Identity `json:"identity"`
		Namespace string   `json:"namespace"`
		Name      string   `json:"name"`
		Status    string   `json:"status"`
	}
)

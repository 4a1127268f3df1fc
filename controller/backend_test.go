package controller_test

import (
	"github.com/flurryfn/flurry/controller"
	"github.com/flurryfn/flurry/gateway"
)

// Both the in-process controller and the NATS client serve the gateway.
var (
	_ gateway.Backend = (*controller.Controller)(nil)
	_ gateway.Backend = (*controller.Client)(nil)
)

// Both also offer namespace administration.
var (
	_ gateway.Admin = (*controller.Controller)(nil)
	_ gateway.Admin = (*controller.Client)(nil)
)

package container

import "context"

// Freezer is the optional ability of a runtime to freeze a container: stop
// every process in it from running, without killing any, until Thaw. The
// pool freezes containers that went idle, so that what an action left
// running between activations (a busy loop, a forked child) takes no CPU,
// as OpenWhisk pauses and Fn freezes idle containers.
//
// Freeze returns once no process of the container can run any more; Thaw
// once they can again. Freezing a frozen container and thawing a thawed
// one do nothing. Both wrap ErrNotFound for an unknown id. Remove must
// succeed on a frozen container. The caller serializes Freeze and Thaw of
// one container (the pool holds a per-container lock); calls for
// different containers may run concurrently. They may block for the
// runtime's round trip: never call them under a lock others wait on.
type Freezer interface {
	Freeze(ctx context.Context, id string) error
	Thaw(ctx context.Context, id string) error
}

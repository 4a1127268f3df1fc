// Package backoff computes the delays between retries: exponential growth
// from an initial delay up to a ceiling, with full jitter (uniform in
// [0, backoff], AWS's "full jitter"), so that many parties retrying after
// the same failure spread out instead of retrying in step.
//
// The main type is Exponential. The package only computes delays: waiting,
// and when to give up, are the caller's.
package backoff

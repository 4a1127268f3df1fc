// Package launch is the main of a Go action built by gowrap: the code that
// turns the action's function into an executable the flurry proxy runs.
// gowrap copies this package's source into the action's build, so it uses
// the standard library only.
//
// The launcher speaks one of two protocols, chosen by the proxy at /init
// (ADR 014):
//
//   - actionloop (OpenWhisk's): one JSON activation per line on stdin,
//     one JSON result per line on file descriptor 3. The proxy answers the
//     invoker's /run with the result and marks the end of each
//     activation's output on stdout and stderr.
//   - direct run: when the environment names a unix socket in RunSocketEnv,
//     the launcher serves /run on that socket itself, in the format the
//     proxy answers /run in (the result, and the activation's log lines
//     inline when the request asks with the Flurry-Logs header). The
//     invoker then reaches the action without waking the proxy: one
//     process and one socket hop per activation instead of two processes
//     and five pipe and socket hops.
//
// The proxy offers direct run only to an executable whose bytes contain
// Protocol (gowrap's launcher; an action with its own main speaks
// actionloop), and learns that the launcher took the offer from its
// acknowledgement on file descriptor 3, which names Protocol. A launcher
// that cannot serve the socket acknowledges without it and speaks
// actionloop.
package launch

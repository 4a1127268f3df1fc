// Package proxy is the in-container OpenWhisk "actionloop" action proxy: the
// HTTP server on port 8080 inside every Flurry runtime container (and every
// process-runtime sandbox) that speaks the action protocol to the invoker.
//
// POST /init unpacks the action's native executable (a base64 zip holding
// an executable named exec at its root, or the bare executable) into
// Config.Dir and starts it once. POST /run writes the request object as one
// JSON line to the executable's stdin and answers with the one JSON line it
// writes to file descriptor 3. After every /run the proxy writes
// container.EndMarker on stdout and stderr, after the action's own output.
//
// Runs are serialized, whatever __OW_ALLOW_CONCURRENT says: one process
// answers its lines in order, so concurrent /run requests queue on a mutex.
//
// An action that fails (exits, closes fd 3, writes something that is not a
// JSON object) is answered with 502 and an {"error": ...} body, and every
// later /run gets 502 too: the invoker replaces such a container. The proxy
// serves one action for its whole life; a second /init gets 403.
//
// The proxy must not read the environment or flags (cmd/flurry does) and
// must not log to stdout or stderr by default: those are the action's logs.
package proxy

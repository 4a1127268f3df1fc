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
// With Config.Language Python or Nodejs the proxy runs source code
// instead: /init writes text code to main__.py or main__.js, or unpacks a
// zip (a Python zip holds __main__.py and optionally virtualenv/, a Node.js
// zip package.json or index.js and node_modules/), and starts the embedded
// launcher (launchers/) under the interpreter. The launcher loads the code
// and picks main before it answers {"ok":true} on fd 3, so a syntax error
// or a missing main fails /init with 502 and the interpreter's message;
// then it speaks the same line protocol, sets the __OW_ variables per
// activation, and awaits an async main or a returned Promise. After a
// failed /init the proxy writes the end marker too, so the load error's
// traceback reaches the record.
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

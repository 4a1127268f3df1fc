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
// Apps (ADR 010, Python only) are whole WSGI applications. /init with
// "app": true in its value writes text code to <module>.py or unpacks a
// zip of the app's directory, and starts launchers/app.py, which imports
// main ("module:attr", default app:app) before it acknowledges, so an
// import failure is /init's 502 like an action's load error. Then:
//
//   - POST /register answers {"routes": [{"methods", "rule", "endpoint"}]}
//     from the app's Werkzeug url_map, in its order; 409 before a
//     successful app /init, 502 when the app has no url_map. Like /run it
//     ends an activation: the end marker follows.
//   - POST /specialize?endpoint=E (or body {"endpoint": E}) answers
//     {"ok": true, "endpoint": E} when the app has E; 404 for an unknown
//     endpoint, 409 before an app /init or once specialized for another
//     endpoint, 400 without an endpoint. It is a step of the activation its
//     /run ends, so it writes the marker only when it fails.
//     ?endpoint=echo&echo=X is the self-test: {"ok": true, "endpoint":
//     "echo", "echo": X} in any state, specializing nothing.
//   - POST /run takes the usual run request whose value is the gateway's
//     HTTP event (method, path, rawQuery, headers, body, isBase64Encoded,
//     scriptName), calls the app with the WSGI environ made from it and
//     answers {"statusCode", "headers": {name: [values]}, "body",
//     "isBase64Encoded"}; a body that is not UTF-8 is base64. A WSGI call
//     that raises is an application error {"error": "Type: message"}.
//
// Other runtimes answer /register, /specialize and an app /init with 501.
//
// Runs are serialized, whatever __OW_ALLOW_CONCURRENT says: one process
// answers its lines in order, so concurrent /run requests queue on a mutex.
//
// An action that fails (exits, closes fd 3, writes something that is not a
// JSON object) is answered with 502 and an {"error": ...} body, and every
// later /run gets 502 too: the invoker replaces such a container. The proxy
// serves one action for its whole life; a second /init gets 403.
//
// With Config.InlineLogs (ADR 012) the action's output is kept in the
// proxy, each line stamped with its arrival time, and a request carrying
// container.InlineLogsHeader gets its activation's lines, end marker
// included, after the result in the same body (inline.go); other requests,
// and those whose client has gone, get them printed as above.
//
// With Config.RunSocket too, an executable built with gowrap's launcher
// (it carries launch.Protocol) is offered direct run (ADR 014): it serves
// /run itself on that socket, with its own inline logs, and the proxy
// answers /init with the socket's name and any later /run with 409.
//
// The action runs with GOMAXPROCS=1 unless Config.Env sets it.
//
// The proxy must not read the environment or flags (cmd/flurry does) and
// must not log to stdout or stderr by default: those are the action's logs.
package proxy

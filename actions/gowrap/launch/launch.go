package launch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"runtime/debug"
	"syscall"
)

// Protocol names the direct-run protocol. The launcher writes it in its
// acknowledgement, which also keeps it in every executable built with this
// package: the proxy looks for it to know it may offer direct run.
const Protocol = "flurry-launcher/direct-run/1"

// RunSocketEnv names the environment variable in which the proxy offers
// direct run: the path of the unix socket to serve /run on.
const RunSocketEnv = "FLURRY_RUN_SOCKET"

// waitForAckEnv asks the launcher to say on fd 3 that it is ready before
// the first activation (OpenWhisk's actionloop convention).
const waitForAckEnv = "__OW_WAIT_FOR_ACK"

// Action is the action's function.
type Action func(map[string]interface{}) map[string]interface{}

// Main runs action until the proxy stops it: it serves /run on the socket
// the proxy offers in RunSocketEnv, or else reads one activation per line
// on stdin and writes one result per line on file descriptor 3, until
// stdin closes.
func Main(action Action) {
	out := os.NewFile(3, "result")
	if out == nil {
		fmt.Fprintln(os.Stderr, "flurry: file descriptor 3 is not open; run this action under the flurry proxy")
		os.Exit(2)
	}
	if path := os.Getenv(RunSocketEnv); path != "" {
		err := serve(path, action, out)
		fmt.Fprintf(os.Stderr, "flurry: direct run unavailable, speaking actionloop: %v\n", err)
	}
	if os.Getenv(waitForAckEnv) != "" {
		writeLine(out, []byte(`{"ok":true}`))
	}
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	for {
		line, err := in.ReadBytes('\n')
		if len(line) == 0 && err != nil {
			return
		}
		writeLine(out, activate(action, line))
	}
}

// writeLine writes one line on fd 3; the proxy reading it is gone when
// that fails, and so is the point of going on.
func writeLine(out *os.File, b []byte) {
	if _, err := out.Write(append(b, '\n')); err != nil {
		fmt.Fprintln(os.Stderr, "flurry: write result:", err)
		os.Exit(2)
	}
}

// activation is the JSON the proxy or the invoker sends per activation.
type activation struct {
	Value         map[string]interface{} `json:"value"`
	Namespace     string                 `json:"namespace"`
	ActionName    string                 `json:"action_name"`
	ActionVersion string                 `json:"action_version"`
	ActivationID  string                 `json:"activation_id"`
	Deadline      json.RawMessage        `json:"deadline"`
	APIKey        *string                `json:"api_key"`
}

// activate runs action for one activation line and returns its result, a
// JSON object; a malformed line, a panic or an unencodable result is an
// {"error": ...} result.
func activate(action Action, line []byte) []byte {
	var msg activation
	if err := decodeActivation(line, &msg); err != nil {
		return errorResult("flurry: malformed activation: " + err.Error())
	}
	return run(action, &msg)
}

// run sets the activation's __OW_ variables and calls action.
func run(action Action, msg *activation) (out []byte) {
	setenv("__OW_NAMESPACE", msg.Namespace)
	setenv("__OW_ACTION_NAME", msg.ActionName)
	setenv("__OW_ACTION_VERSION", msg.ActionVersion)
	setenv("__OW_ACTIVATION_ID", msg.ActivationID)
	setenv("__OW_DEADLINE", text(msg.Deadline))
	if msg.APIKey != nil {
		setenv("__OW_API_KEY", *msg.APIKey)
	} else if _, ok := os.LookupEnv("__OW_API_KEY"); ok {
		os.Unsetenv("__OW_API_KEY")
	}
	if msg.Value == nil {
		msg.Value = map[string]interface{}{}
	}
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "panic: %v\n\n%s", r, debug.Stack())
			out = errorResult(fmt.Sprintf("action panicked: %v", r))
		}
	}()
	res := action(msg.Value)
	if res == nil {
		res = map[string]interface{}{}
	}
	b, err := json.Marshal(res)
	if err != nil {
		return errorResult("cannot encode the action's result as JSON: " + err.Error())
	}
	if len(b) > maxResultBytes {
		// Answered here rather than sent whole for the invoker to refuse:
		// copying a result of tens of MiB into the answer would take the
		// action's memory past its limit.
		return errorResult(fmt.Sprintf("The action produced a response that exceeded the allowed length: %d > %d bytes.", len(b), maxResultBytes))
	}
	return b
}

// maxResultBytes is the largest result the platform keeps
// (entity.MaxPayloadBytes; this package uses the standard library only).
const maxResultBytes = 1 << 20

// setenv sets the environment variable key to value unless it is that
// already: most of an activation's variables are the same as the last
// one's, and a lookup is cheaper than a Setenv, which copies.
func setenv(key, value string) {
	if v, ok := os.LookupEnv(key); !ok || v != value {
		os.Setenv(key, value)
	}
}

// text is a JSON string's content, or other JSON as its text.
func text(raw json.RawMessage) string {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' && bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]) // a string without escapes
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	return string(raw)
}

func errorResult(msg string) []byte {
	b, _ := json.Marshal(map[string]string{"error": msg})
	return b
}

// setNonblock makes fd pollable, so a goroutine waiting on it parks in
// the runtime's poller instead of holding a thread in a blocking read.
func setNonblock(fd int) *os.File {
	_ = syscall.SetNonblock(fd, true)
	return os.NewFile(uintptr(fd), fmt.Sprintf("fd%d", fd))
}

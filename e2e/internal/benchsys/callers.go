package benchsys

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Callers invoke actions through a system's REST API for a load
// generator that shares the machine with the system it measures. They
// cost it less CPU than net/http's client, whose Transport hands every
// request and answer between the caller and two goroutines of the
// connection: here a call takes an idle keep-alive connection for
// itself, writes its request in one write and reads the answer on the
// caller's goroutine. The system sees the same HTTP/1.1 requests as from
// System.Invoke.
type Callers struct {
	host  string // host:port of the API
	auth  string // the Authorization header's value
	idle  chan *callerConn
	limit time.Duration
}

type callerConn struct {
	c  net.Conn
	br *bufio.Reader
	wb []byte
}

// Callers returns a set of n keep-alive connections at most (opened as
// needed) to the system's REST API.
func (s *System) Callers(n int) *Callers {
	return &Callers{
		host:  strings.TrimPrefix(s.API, "http://"),
		auth:  "Basic " + base64.StdEncoding.EncodeToString([]byte(Auth)),
		idle:  make(chan *callerConn, n),
		limit: 120 * time.Second,
	}
}

// Invoke runs action name blocking with params (a JSON object) and returns
// its result, as System.Invoke does.
func (cs *Callers) Invoke(name string, params []byte) ([]byte, error) {
	var cc *callerConn
	select {
	case cc = <-cs.idle:
	default:
		c, err := net.Dial("tcp", cs.host)
		if err != nil {
			return nil, err
		}
		cc = &callerConn{c: c, br: bufio.NewReaderSize(c, 16<<10)}
	}
	body, keep, err := cc.post(cs, "/api/v1/namespaces/_/actions/"+name+"?blocking=true&result=true", params)
	if err != nil || !keep {
		cc.c.Close()
	} else {
		select {
		case cs.idle <- cc:
		default:
			cc.c.Close()
		}
	}
	return body, err
}

// Close closes the idle connections; call it when no call is under way.
func (cs *Callers) Close() {
	for {
		select {
		case cc := <-cs.idle:
			cc.c.Close()
		default:
			return
		}
	}
}

// post sends one request and reads its answer; keep says whether the
// connection can carry the next one.
func (cc *callerConn) post(cs *Callers, path string, body []byte) (out []byte, keep bool, err error) {
	b := cc.wb[:0]
	b = append(b, "POST "...)
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, cs.host...)
	b = append(b, "\r\nAuthorization: "...)
	b = append(b, cs.auth...)
	b = append(b, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, body...)
	cc.wb = b
	if err := cc.c.SetDeadline(time.Now().Add(cs.limit)); err != nil {
		return nil, false, err
	}
	if _, err := cc.c.Write(b); err != nil {
		return nil, false, err
	}
	resp, err := http.ReadResponse(cc.br, nil)
	if err != nil {
		return nil, false, err
	}
	out, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, false, err
	}
	if resp.StatusCode != http.StatusOK {
		return out, !resp.Close, fmt.Errorf("invoke %s: %d %s", path, resp.StatusCode, out)
	}
	return out, !resp.Close, nil
}

package stored

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// msgNotFound is JetStream's error code for "no message found".
const msgNotFound = 10037

// LastMsg returns the last message on subject in stream, read from the
// stream leader (never a direct get; see the package doc). A missing
// message is jetstream.ErrMsgNotFound.
func LastMsg(ctx context.Context, nc *nats.Conn, stream, subject string) (*jetstream.RawStreamMsg, error) {
	return msgGet(ctx, nc, stream, msgGetRequest{LastBySubject: subject})
}

// Msg returns the message at seq in stream, as LastMsg reads it.
func Msg(ctx context.Context, nc *nats.Conn, stream string, seq uint64) (*jetstream.RawStreamMsg, error) {
	return msgGet(ctx, nc, stream, msgGetRequest{Seq: seq})
}

// msgGetRequest and msgGetResponse are JetStream's STREAM.MSG.GET API.
type msgGetRequest struct {
	Seq           uint64 `json:"seq,omitempty"`
	LastBySubject string `json:"last_by_subj,omitempty"`
}

type msgGetResponse struct {
	Error *struct {
		Code        int    `json:"code"`
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
	Message *struct {
		Subject string    `json:"subject"`
		Seq     uint64    `json:"seq"`
		Header  []byte    `json:"hdrs"`
		Data    []byte    `json:"data"`
		Time    time.Time `json:"time"`
	} `json:"message"`
}

func msgGet(ctx context.Context, nc *nats.Conn, stream string, req msgGetRequest) (*jetstream.RawStreamMsg, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	m, err := nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+stream, body)
	if err != nil {
		return nil, fmt.Errorf("get message from stream %s: %w", stream, err)
	}
	var resp msgGetResponse
	if err := json.Unmarshal(m.Data, &resp); err != nil {
		return nil, fmt.Errorf("get message from stream %s: bad answer: %w", stream, err)
	}
	switch {
	case resp.Error != nil && resp.Error.ErrCode == msgNotFound:
		return nil, jetstream.ErrMsgNotFound
	case resp.Error != nil:
		return nil, fmt.Errorf("get message from stream %s: %s (%d)", stream, resp.Error.Description, resp.Error.ErrCode)
	case resp.Message == nil:
		return nil, fmt.Errorf("get message from stream %s: answer has no message", stream)
	}
	out := &jetstream.RawStreamMsg{
		Subject:  resp.Message.Subject,
		Sequence: resp.Message.Seq,
		Data:     resp.Message.Data,
		Time:     resp.Message.Time,
	}
	if len(resp.Message.Header) > 0 {
		if out.Header, err = nats.DecodeHeadersMsg(resp.Message.Header); err != nil {
			return nil, fmt.Errorf("get message from stream %s: bad headers: %w", stream, err)
		}
	}
	return out, nil
}

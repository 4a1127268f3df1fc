package activation

import (
	"errors"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flurryfn/flurry/internal/names"
)

// RecordMsg is the message that stores data, the record of activation id
// in namespace ns: on the activation's own subject, and only while that
// subject holds nothing (Nats-Expected-Last-Subject-Sequence: 0). So an
// activation id has exactly one record, whichever of its runs or retried
// publishes comes first and however much later another one comes, and the
// records stream keeps no de-duplication state for it (a Nats-Msg-Id is
// remembered for the stream's whole duplicate window, in the broker's
// heap).
func RecordMsg(ns, id string, data []byte) *nats.Msg {
	return &nats.Msg{
		Subject: names.RecordSubject(ns, id),
		Data:    data,
		Header:  nats.Header{jetstream.ExpectedLastSubjSeqHeader: []string{"0"}},
	}
}

// Recorded reports whether err is the refusal of a RecordMsg because the
// activation already has a record (10164 is how a replicated stream says
// it).
func Recorded(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) &&
		(apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

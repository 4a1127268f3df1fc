package activation

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/jsonscan"
)

// DecodeRecord decodes a record, as json.Unmarshal(data, r) does. r must
// be a zero Record. Records as invokers write them are decoded without
// encoding/json's reflection and two passes over every byte; anything
// else is left to encoding/json, whose answer (or error) stands.
func DecodeRecord(data []byte, r *Record) error {
	if decodeRecordPlain(data, r) {
		return nil
	}
	*r = Record{}
	return json.Unmarshal(data, r)
}

// Record members, for finding a repeated key: encoding/json decodes a
// repeated array into the earlier one's elements, which is left to it.
const (
	recActivationID = 1 << iota
	recNamespace
	recName
	recVersion
	recSubject
	recStart
	recEnd
	recDuration
	recResponse
	recLogs
	recAnnotations
	recPublish
	recCause
)

var recordMembers = map[string]int{
	"activationId": recActivationID, "namespace": recNamespace, "name": recName, "version": recVersion,
	"subject": recSubject, "start": recStart, "end": recEnd, "duration": recDuration,
	"response": recResponse, "logs": recLogs, "annotations": recAnnotations, "publish": recPublish,
	"cause": recCause,
}

// decodeRecordPlain decodes a record written plainly: every key spelled
// as Record's tags spell it (encoding/json also matches keys ignoring
// case) and once, strings in ASCII without escapes, no nulls, integers
// where Record has integers. It reports false for anything else.
func decodeRecordPlain(data []byte, r *Record) bool {
	seen := 0
	return jsonscan.Members(data, func(key, v []byte) bool {
		bit := recordMembers[string(key)]
		if bit == 0 || seen&bit != 0 {
			return false
		}
		seen |= bit
		switch bit {
		case recActivationID:
			return scanString(&r.ActivationID, v)
		case recNamespace:
			return scanString(&r.Namespace, v)
		case recName:
			return scanString(&r.Name, v)
		case recVersion:
			return scanString(&r.Version, v)
		case recSubject:
			return scanString(&r.Subject, v)
		case recCause:
			return scanString(&r.Cause, v)
		case recStart:
			return scanInt(&r.Start, v)
		case recEnd:
			return scanInt(&r.End, v)
		case recDuration:
			return scanInt(&r.Duration, v)
		case recPublish:
			return scanBool(&r.Publish, v)
		case recResponse:
			return decodeResponsePlain(v, &r.Response)
		case recLogs:
			r.Logs = []string{} // encoding/json's for [], not nil
			return jsonscan.Elements(v, func(e []byte) bool {
				var s string
				ok := scanString(&s, e)
				r.Logs = append(r.Logs, s)
				return ok
			})
		case recAnnotations:
			r.Annotations = []entity.KeyValue{}
			return jsonscan.Elements(v, func(e []byte) bool {
				var kv entity.KeyValue
				seenKV := 0
				ok := jsonscan.Members(e, func(k, v []byte) bool {
					switch string(k) {
					case "key":
						seenKV |= 1
						return scanString(&kv.Key, v)
					case "value":
						seenKV |= 2
						kv.Value = bytes.Clone(v)
						return true
					}
					return false
				})
				r.Annotations = append(r.Annotations, kv)
				return ok && seenKV == 3
			})
		}
		return true
	})
}

func decodeResponsePlain(data []byte, resp *Response) bool {
	seen := 0
	return jsonscan.Members(data, func(key, v []byte) bool {
		var bit int
		switch string(key) {
		case "status":
			bit = 1
		case "statusCode":
			bit = 2
		case "success":
			bit = 4
		case "result":
			bit = 8
		}
		if bit == 0 || seen&bit != 0 {
			return false
		}
		seen |= bit
		switch bit {
		case 1:
			return scanString(&resp.Status, v)
		case 2:
			n, err := strconv.Atoi(string(v))
			resp.StatusCode = n
			return err == nil
		case 4:
			return scanBool(&resp.Success, v)
		default:
			resp.Result = bytes.Clone(v) // as json.RawMessage's UnmarshalJSON copies
			return true
		}
	})
}

func scanString(dst *string, v []byte) bool {
	s, ok := jsonscan.PlainString(v)
	*dst = s
	return ok
}

func scanInt(dst *int64, v []byte) bool {
	n, err := strconv.ParseInt(string(v), 10, 64)
	*dst = n
	return err == nil
}

func scanBool(dst *bool, v []byte) bool {
	switch string(v) {
	case "true":
		*dst = true
	case "false":
		*dst = false
	default:
		return false
	}
	return true
}

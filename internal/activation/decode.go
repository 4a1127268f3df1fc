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

// decodeRecordPlain decodes a record written plainly: every key spelled
// as Record's tags spell it (encoding/json also matches keys ignoring
// case) and once (encoding/json decodes a repeated array into the earlier
// one's elements), strings in ASCII without escapes, no nulls, integers
// where Record has integers. It reports false for anything else.
func decodeRecordPlain(data []byte, r *Record) bool {
	var seen members
	once := seen.once
	return jsonscan.Members(data, func(key, v []byte) bool {
		switch string(key) {
		case "activationId":
			return once(1<<0) && scanString(&r.ActivationID, v)
		case "namespace":
			return once(1<<1) && scanString(&r.Namespace, v)
		case "name":
			return once(1<<2) && scanString(&r.Name, v)
		case "version":
			return once(1<<3) && scanString(&r.Version, v)
		case "subject":
			return once(1<<4) && scanString(&r.Subject, v)
		case "cause":
			return once(1<<5) && scanString(&r.Cause, v)
		case "start":
			return once(1<<6) && scanInt(&r.Start, v)
		case "end":
			return once(1<<7) && scanInt(&r.End, v)
		case "duration":
			return once(1<<8) && scanInt(&r.Duration, v)
		case "publish":
			return once(1<<9) && scanBool(&r.Publish, v)
		case "response":
			return once(1<<10) && decodeResponsePlain(v, &r.Response)
		case "logs":
			r.Logs = []string{} // encoding/json's for [], not nil
			return once(1<<11) && jsonscan.Elements(v, func(e []byte) bool {
				var s string
				ok := scanString(&s, e)
				r.Logs = append(r.Logs, s)
				return ok
			})
		case "annotations":
			r.Annotations = []entity.KeyValue{}
			return once(1<<12) && jsonscan.Elements(v, func(e []byte) bool {
				var kv entity.KeyValue
				var key, value bool
				ok := jsonscan.Members(e, func(k, v []byte) bool {
					switch string(k) {
					case "key":
						key = true
						return scanString(&kv.Key, v)
					case "value":
						value = true
						kv.Value = bytes.Clone(v)
						return true
					}
					return false
				})
				r.Annotations = append(r.Annotations, kv)
				return ok && key && value
			})
		}
		return false
	})
}

// decodeResponsePlain is decodeRecordPlain for the response member.
func decodeResponsePlain(data []byte, resp *Response) bool {
	var seen members
	once := seen.once
	return jsonscan.Members(data, func(key, v []byte) bool {
		switch string(key) {
		case "status":
			return once(1<<0) && scanString(&resp.Status, v)
		case "statusCode":
			if !once(1 << 1) {
				return false
			}
			n, err := strconv.Atoi(string(v))
			resp.StatusCode = n
			return err == nil
		case "success":
			return once(1<<2) && scanBool(&resp.Success, v)
		case "result":
			resp.Result = bytes.Clone(v) // as json.RawMessage's UnmarshalJSON copies
			return once(1 << 3)
		}
		return false
	})
}

// members records which members of an object were seen, one bit each.
type members uint32

// once reports whether bit is new, and marks it seen.
func (m *members) once(bit uint32) bool {
	fresh := uint32(*m)&bit == 0
	*m |= members(bit)
	return fresh
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

package activation

import (
	"encoding/json"
	"reflect"
	"testing"
)

// Records as invokers write them take the plain path and decode as
// encoding/json decodes them.
func TestDecodeRecordPlain(t *testing.T) {
	for _, rec := range []*Record{benchRecord(), recordWithLogs()} {
		data, _ := json.Marshal(rec)
		var got Record
		if !decodeRecordPlain(data, &got) {
			t.Fatalf("an invoker's record was declined: %s", data)
		}
		var want Record
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("plain = %+v\nwant %+v", got, want)
		}
	}

	for _, in := range []string{
		`{"ActivationId":"x"}`, `{"activationId":"x","activationId":"y"}`, `{"logs":["a\nb"]}`,
		`{"logs":[1]}`, `{"start":1.5}`, `{"publish":null}`, `{"response":{"statusCode":"0"}}`,
		`{"response":{"result":1,"result":2}}`, `{"annotations":[{"key":"a"}]}`,
		`{"annotations":[{"key":"a","value":1,"other":2}]}`, `{"annotations":{}}`, `{"other":1}`,
	} {
		var r Record
		if decodeRecordPlain([]byte(in), &r) {
			t.Errorf("decodeRecordPlain(%s) answered", in)
		}
	}
}

// What the plain path declines, encoding/json decodes (or refuses).
func TestDecodeRecordFallback(t *testing.T) {
	var r Record
	if err := DecodeRecord([]byte(`{"activationId":"x","ActivationID":"y","logs":["l\u00e9"]}`), &r); err != nil ||
		r.ActivationID != "y" || len(r.Logs) != 1 || r.Logs[0] != "lé" {
		t.Errorf("DecodeRecord = %+v, %v", r, err)
	}
	r = Record{}
	if err := DecodeRecord([]byte(`{"activationId":"x",`), &r); err == nil {
		t.Error("DecodeRecord of a truncated record succeeded")
	}
	r = Record{}
	if err := DecodeRecord([]byte(`{"start":"soon"}`), &r); err == nil {
		t.Error("DecodeRecord of a string start succeeded")
	}
}

func recordWithLogs() *Record {
	r := benchRecord()
	r.Logs = []string{"2026-12-06T03:00:00.000Z stdout: hello", "2026-12-06T03:00:00.001Z stderr: bye"}
	r.Cause = "0123456789abcdef0123456789abcdef"
	r.Publish = true
	r.Response = NewResponse(StatusApplicationError, json.RawMessage(`{"error":"no"}`))
	return r
}

// FuzzDecodeRecord checks that DecodeRecord answers as json.Unmarshal does.
func FuzzDecodeRecord(f *testing.F) {
	for _, r := range []*Record{benchRecord(), recordWithLogs()} {
		data, _ := json.Marshal(r)
		f.Add(data)
	}
	f.Add([]byte(`{"response":{"result":null},"annotations":[{"key":"a","value":null,"key":"b"}],"logs":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var got, want Record
		gotErr := DecodeRecord(data, &got)
		wantErr := json.Unmarshal(data, &want)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%q: DecodeRecord error %v, json.Unmarshal %v", data, gotErr, wantErr)
		}
		if gotErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: DecodeRecord = %+v\nwant %+v", data, got, want)
		}
	})
}

// BenchmarkRecordDecode is BenchmarkRecordUnmarshal's record through
// DecodeRecord.
func BenchmarkRecordDecode(b *testing.B) {
	data, _ := json.Marshal(benchRecord())
	b.ReportAllocs()
	for b.Loop() {
		var r Record
		if err := DecodeRecord(data, &r); err != nil {
			b.Fatal(err)
		}
	}
}

package gateway

import (
	"net/url"
	"testing"
)

// queryParam answers as url.Values.Get does, bad pairs included.
func TestQueryParamMatchesURLQuery(t *testing.T) {
	queries := []string{
		"", "blocking=true", "blocking=true&result=true", "result=true&blocking=false",
		"blocking", "blocking=", "blocking=1&blocking=0", "a=1&&blocking=yes",
		"blocking=%74rue", "bl%6Fcking=true", "blocking=tr+ue", "blocking=%zz&blocking=true",
		"blocking=true;result=true", "x=1;y=2&blocking=false", "%zz=1&blocking=t",
		"blocking=true&", "&blocking=true", "=true&blocking=false", "blocking==true",
	}
	for _, q := range queries {
		want, _ := url.ParseQuery(q) // the error is for the pairs it skipped
		for _, name := range []string{"blocking", "result", "a", "x"} {
			if got := queryParam(q, name); got != want.Get(name) {
				t.Errorf("queryParam(%q, %q) = %q, url.Values.Get gives %q", q, name, got, want.Get(name))
			}
		}
	}
}

func BenchmarkQueryParam(b *testing.B) {
	const q = "blocking=true&result=true"
	b.ReportAllocs()
	for b.Loop() {
		if queryParam(q, "blocking") != "true" || queryParam(q, "result") != "true" {
			b.Fatal("wrong value")
		}
	}
}

package main

import (
	"flag"
	"log/slog"
	"testing"
)

func TestAPIConnBound(t *testing.T) {
	for _, tc := range []struct {
		limit uint64
		want  int
	}{
		{0, 0}, // unknown: the gateway's default
		{1024, 512},
		{20_000, 10_000},
		{1 << 20, maxAPIConns},
	} {
		if got := apiConnBound(tc.limit); got != tc.want {
			t.Errorf("apiConnBound(%d) = %d, want %d", tc.limit, got, tc.want)
		}
	}
}

func TestNATSConnBound(t *testing.T) {
	if got := natsConnBound(1024); got != 128 || got+apiConnBound(1024) > 1024*5/8 {
		t.Errorf("natsConnBound(1024) = %d: want an eighth, with the API's half leaving 3/8", got)
	}
}

func TestRaiseFileLimit(t *testing.T) {
	if got := raiseFileLimit(slog.New(slog.DiscardHandler)); got == 0 {
		t.Error("descriptor limit unknown on this system")
	}
}

func TestGatewayFlags(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		name         string
		args         []string
		limit        uint64
		wantErr      bool
		max, perAddr int
	}{
		{name: "derived from the descriptor limit", limit: 1024, max: 512, perAddr: 64},
		{name: "explicit", args: []string{"--max-conns", "100", "--max-conns-per-addr", "100"}, limit: 1024, max: 100, perAddr: 100},
		{name: "per address over the total", args: []string{"--max-conns", "10", "--max-conns-per-addr", "11"}, wantErr: true},
		{name: "zero timeout", args: []string{"--read-body-timeout", "0s"}, wantErr: true},
		{name: "zero rate", args: []string{"--body-min-rate", "0"}, wantErr: true},
		{name: "zero streams", args: []string{"--grpc-max-streams", "0"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			var gf gatewayFlags
			gf.register(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			cfg, err := gf.config(log, tc.limit)
			if (err != nil) != tc.wantErr {
				t.Fatalf("config: %v, want error %v", err, tc.wantErr)
			}
			if err == nil && (cfg.MaxConns != tc.max || cfg.MaxConnsPerAddr != tc.perAddr) {
				t.Errorf("bounds %d, %d per address; want %d, %d", cfg.MaxConns, cfg.MaxConnsPerAddr, tc.max, tc.perAddr)
			}
		})
	}
}

package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/flurryfn/flurry/e2e/internal/benchsys"
)

var (
	freezeMode = flag.Bool("freeze", false, "measure warm invokes after an idle gap (a frozen container) beside a busy stream, for -flurry and -freeze-base (only that)")
	freezeBase = flag.String("freeze-base", "", "the flurry binary to compare with in the -freeze mode (e.g. one built from main)")
	freezeGap  = flag.Duration("freeze-gap", 200*time.Millisecond, "idle gap before each call of the idle path, longer than the freeze grace")
)

func runFreezeMode(bin string, n, rounds int) bool {
	if !*freezeMode {
		return false
	}
	if err := runFreeze(bin, *freezeBase, n, rounds, *freezeGap); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	return true
}

// runFreeze starts a standalone of each binary side by side and measures,
// in interleaved rounds, sequential warm REST invokes of a no-op action
// back to back (busy: the container is never idle past the freeze grace)
// and after an idle gap each (idle: frozen since, so the call pays the
// thaw).
func runFreeze(bin, base string, n, rounds int, gap time.Duration) error {
	tmp, err := os.MkdirTemp("", "flurry-bench-freeze")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	code, err := benchsys.NoopCode(context.Background(), tmp)
	if err != nil {
		return err
	}
	type target struct {
		name       string
		sys        *system
		busy, idle []time.Duration
	}
	var targets []*target
	for i, b := range []string{base, bin} {
		if b == "" {
			continue
		}
		sys, err := start(b, filepath.Join(tmp, fmt.Sprint(i)), "--prewarm", "0")
		if err != nil {
			return err
		}
		defer sys.Stop()
		if err := sys.Put("noop", code, 128); err != nil {
			return err
		}
		for range 50 {
			if _, err := sys.restInvoke("noop"); err != nil {
				return err
			}
		}
		targets = append(targets, &target{name: b, sys: sys})
	}
	per := n / rounds
	for range rounds {
		for _, tg := range targets {
			for range per {
				t0 := time.Now()
				if _, err := tg.sys.restInvoke("noop"); err != nil {
					return err
				}
				tg.busy = append(tg.busy, time.Since(t0))
			}
			for range per {
				time.Sleep(gap) // a bench, not a test: the idle gap is what is measured
				t0 := time.Now()
				if _, err := tg.sys.restInvoke("noop"); err != nil {
					return err
				}
				tg.idle = append(tg.idle, time.Since(t0))
			}
		}
	}
	fmt.Printf("| binary | path (warm REST invoke, sequential) | n | p50 | p99 |\n|---|---|---|---|---|\n")
	for _, tg := range targets {
		for _, p := range []struct {
			name string
			d    []time.Duration
		}{{"busy (back to back)", tg.busy}, {fmt.Sprintf("after %v idle", gap), tg.idle}} {
			fmt.Printf("| %s | %s | %d | %s | %s |\n", tg.name, p.name, len(p.d), ms(benchsys.Percentile(p.d, 50)), ms(benchsys.Percentile(p.d, 99)))
		}
	}
	return nil
}

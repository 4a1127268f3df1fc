package main

import (
	"fmt"
	"os"
	"testing"
)

// The variable quietSampler changes is the sampler's: its path names this
// process. (Changing it here would race with the sampler under the race
// detector; e2e's TestIdleProxySleeps checks that the proxy stops it.)
func TestSamplerFile(t *testing.T) {
	if want := fmt.Sprintf("/proc/%d/stat", os.Getpid()); procStatFile != want {
		t.Errorf("procStatFile = %q, want %q", procStatFile, want)
	}
}

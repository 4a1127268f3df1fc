package controller

import (
	"fmt"
	"strconv"
)

// maxQuoted bounds how much of a refused value an error message repeats:
// a caller's 4 KB id is refused, not echoed back in full.
const maxQuoted = 64

// quoteShort quotes s for an error message, cut to maxQuoted bytes.
func quoteShort(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%q… (%d bytes)", s[:maxQuoted], len(s))
}

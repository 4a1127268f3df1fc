// Garbage speaks actionloop badly: for every activation it writes a line
// that is not JSON to file descriptor 3. It has its own main, so gowrap
// builds it as it is.
package main

import (
	"bufio"
	"fmt"
	"os"
)

func main() {
	out := os.NewFile(3, "result")
	in := bufio.NewReader(os.Stdin)
	for {
		if _, err := in.ReadBytes('\n'); err != nil {
			return
		}
		fmt.Println("writing garbage")
		fmt.Fprintln(out, "this is not JSON")
	}
}

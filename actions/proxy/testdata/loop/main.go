// Command loop is a test action speaking actionloop: per input line it
// acts on value.do and answers on fd 3.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

func main() {
	out := os.NewFile(3, "result")
	in := bufio.NewReader(os.Stdin)
	for {
		line, err := in.ReadBytes('\n')
		if err != nil {
			return
		}
		var msg map[string]any
		if err := json.Unmarshal(line, &msg); err != nil {
			fmt.Fprintf(out, "{\"error\":%q}\n", err.Error())
			continue
		}
		value, _ := msg["value"].(map[string]any)
		switch do, _ := value["do"].(string); do {
		case "log":
			// Many lines on both streams right before the result, to
			// catch a marker that overtakes them.
			for i := range 200 {
				fmt.Printf("out %d %s\n", i, strings.Repeat("x", 100))
				fmt.Fprintf(os.Stderr, "err %d\n", i)
			}
			fmt.Print("no newline")
			fmt.Fprintln(out, `{"logged":true}`)
		case "garbage":
			fmt.Fprintln(out, "this is not json")
		case "array":
			fmt.Fprintln(out, "[1,2]")
		case "sleep":
			fmt.Println("sleeping")
			time.Sleep(time.Second)
			fmt.Fprintln(out, `{"slept":true}`)
		case "exit":
			fmt.Println("exiting")
			os.Exit(3)
		case "close":
			out.Close()
		case "env":
			res := map[string]string{}
			for _, k := range []string{"__OW_ACTION_NAME", "GREETING", "NUMBER", "BASE", "GOMAXPROCS"} {
				res[k] = os.Getenv(k)
			}
			b, _ := json.Marshal(res)
			fmt.Fprintf(out, "%s\n", b)
		case "cwd":
			wd, _ := os.Getwd()
			data, _ := os.ReadFile("data/file.txt")
			b, _ := json.Marshal(map[string]string{"cwd": wd, "data": string(data)})
			fmt.Fprintf(out, "%s\n", b)
		default:
			b, _ := json.Marshal(msg)
			fmt.Fprintf(out, "{\"echo\":%s}\n", b)
		}
	}
}

// Command blackbox is a user's own action image for Flurry's end-to-end
// tests of the blackbox kind. It implements the OpenWhisk action protocol
// (POST /init, POST /run on :8080, the end-of-activation marker on stdout
// and stderr) with nothing but the standard library, independently of
// Flurry's action proxy, the way any third-party runtime image would.
//
// /run answers {"blackbox": true, "params": ..., "activation": ..., "main":
// ..., "code": ...}; params {"fail": true} get a 502 (a developer error).
package main

import (
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"os"
	"sync"
)

const marker = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"

type server struct {
	mu          sync.Mutex
	initialized bool
	main, code  string
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *server) init(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Value struct {
			Main string `json:"main"`
			Code string `json:"code"`
		} `json:"value"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		reply(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.initialized {
		reply(w, http.StatusForbidden, map[string]string{"error": "already initialized"})
		return
	}
	s.initialized, s.main, s.code = true, req.Value.Main, req.Value.Code
	reply(w, http.StatusOK, map[string]bool{"ok": true})
}

func (s *server) run(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Value        map[string]any `json:"value"`
		ActivationID string         `json:"activation_id"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		reply(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Printf("blackbox got %d params\n", len(req.Value))
	fmt.Fprintf(os.Stderr, "blackbox stderr line\n")
	// The logs of this activation end here, on both streams.
	fmt.Println(marker)
	fmt.Fprintln(os.Stderr, marker)
	if fail, _ := req.Value["fail"].(bool); fail {
		reply(w, http.StatusBadGateway, map[string]string{"error": "blackbox asked to fail"})
		return
	}
	reply(w, http.StatusOK, map[string]any{
		"blackbox": true, "params": req.Value, "activation": req.ActivationID, "main": s.main, "code": s.code,
	})
}

func main() {
	s := &server{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /init", s.init)
	mux.HandleFunc("POST /run", s.run)
	log.Fatal(http.ListenAndServe(":8080", mux))
}

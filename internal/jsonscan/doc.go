// Package jsonscan walks JSON text without decoding it: the members of an
// object, each as its key and its value's raw text. It serves the decoders
// on an activation's path that encoding/json made costly, because that
// checks a message's every byte twice with a byte-at-a-time state machine
// and then decodes it by reflection (ADR 001's messages carry a whole
// action). A caller decodes the few members it knows and leaves the rest,
// and anything unusual, to encoding/json.
//
// The scanner accepts exactly the JSON grammar of RFC 8259 (as
// encoding/json's json.Valid does) and never allocates.
package jsonscan

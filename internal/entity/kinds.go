package entity

import (
	"fmt"
	"strings"
)

// Runtime kinds with a language runtime in their image (see also KindGo
// and KindBlackbox).
const (
	KindPython = "python:3"
	KindNodejs = "nodejs"
)

// DefaultMain is the entry point of an action whose exec.main is empty,
// as in OpenWhisk.
const DefaultMain = "main"

// KindSpec is one row of the kind table: what an action of the kind must
// carry and how the platform treats it.
type KindSpec struct {
	// Kind is the canonical name, the key of invoker images and prewarm.
	Kind string
	// Aliases are other names clients send for the same runtime (wsk
	// sends "nodejs:default" for a .js file).
	Aliases []string
	// DefaultMain is the entry point when exec.main is empty.
	DefaultMain string
	// NeedsCode: exec must carry code.
	NeedsCode bool
	// BinaryOnly: the code must be binary (base64 of an executable or zip).
	BinaryOnly bool
	// NeedsImage: exec.image names the image (the user's own).
	NeedsImage bool
	// Builtin: Flurry builds the kind's image itself (no registry).
	Builtin bool
}

// kinds is the kind table. Sequences are not run by invokers and are not
// listed.
var kinds = []KindSpec{
	{Kind: KindGo, DefaultMain: DefaultMain, NeedsCode: true, BinaryOnly: true, Builtin: true},
	{Kind: KindPython, Aliases: []string{"python", "python:default", "python:3.11"}, DefaultMain: DefaultMain, NeedsCode: true, Builtin: true},
	{Kind: KindNodejs, Aliases: []string{"nodejs:default", "nodejs:18"}, DefaultMain: DefaultMain, NeedsCode: true, Builtin: true},
	{Kind: KindBlackbox, DefaultMain: DefaultMain, NeedsImage: true},
}

// Kinds returns the kind table in a fixed order.
func Kinds() []KindSpec {
	out := make([]KindSpec, len(kinds))
	copy(out, kinds)
	return out
}

// LookupKind returns the table row of kind or one of its aliases.
func LookupKind(kind string) (KindSpec, bool) {
	for _, k := range kinds {
		if k.Kind == kind {
			return k, true
		}
		for _, a := range k.Aliases {
			if a == kind {
				return k, true
			}
		}
	}
	return KindSpec{}, false
}

// CanonicalKind maps an alias to its kind's canonical name; other names
// are returned unchanged.
func CanonicalKind(kind string) string {
	if k, ok := LookupKind(kind); ok {
		return k.Kind
	}
	return kind
}

// BuiltinKinds lists the canonical kinds whose images Flurry builds.
func BuiltinKinds() []string {
	var out []string
	for _, k := range kinds {
		if k.Builtin {
			out = append(out, k.Kind)
		}
	}
	return out
}

// ValidateExec checks x against its kind's row, once code is resolved
// (x.CodeDigest set when there is code). Errors wrap ErrInvalid.
func ValidateExec(x Exec) error {
	if x.Kind == "" {
		return fmt.Errorf("%w: exec kind is required", ErrInvalid)
	}
	k, ok := LookupKind(x.Kind)
	if !ok {
		names := make([]string, len(kinds))
		for i, k := range kinds {
			names[i] = fmt.Sprintf("%q", k.Kind)
		}
		return fmt.Errorf("%w: kind %q is not supported (use %s)", ErrInvalid, x.Kind, strings.Join(names, ", "))
	}
	switch {
	case k.BinaryOnly && !x.Binary:
		return fmt.Errorf("%w: kind %q needs binary code (base64 of an executable or zip)", ErrInvalid, x.Kind)
	case k.NeedsCode && x.CodeDigest == "":
		return fmt.Errorf("%w: kind %q needs code", ErrInvalid, x.Kind)
	case k.NeedsImage && x.Image == "":
		return fmt.Errorf("%w: kind %q needs an image", ErrInvalid, x.Kind)
	}
	return nil
}

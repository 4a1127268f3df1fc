package gowrap

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
)

// check parses the package's files in root and reports whether it declares
// func main; if not, it makes sure the action function main exists with
// type func(map[string]any) map[string]any.
func check(root string, files []string, main string) (ownMain bool, err error) {
	fset := token.NewFileSet()
	var fn *ast.FuncDecl
	var fnPos token.Position
	for _, name := range files {
		f, err := parser.ParseFile(fset, filepath.Join(root, name), nil, parser.SkipObjectResolution)
		if err != nil {
			return false, fmt.Errorf("%w: %v", ErrNoSource, err)
		}
		if f.Name.Name != "main" {
			return false, fmt.Errorf("%w: %s is package %s; an action must be package main", ErrNoSource, name, f.Name.Name)
		}
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv != nil {
				continue
			}
			switch fd.Name.Name {
			case "main":
				ownMain = true
			case main:
				fn, fnPos = fd, fset.Position(fd.Pos())
			}
		}
	}
	if ownMain {
		return true, nil
	}
	if fn == nil {
		return false, fmt.Errorf("%w: declare func %s(args map[string]any) map[string]any in package main (or a func main that speaks actionloop)", ErrNoMain, main)
	}
	if !actionType(fn.Type) {
		return false, fmt.Errorf("%w: %s: %s must be func(map[string]any) map[string]any", ErrSignature, fnPos, main)
	}
	return false, nil
}

// actionType reports whether t is func(map[string]any) map[string]any
// (interface{} or any, parameter names free, no type parameters).
func actionType(t *ast.FuncType) bool {
	if t.TypeParams != nil && len(t.TypeParams.List) > 0 {
		return false
	}
	return oneField(t.Params) && oneField(t.Results) &&
		isAnyMap(t.Params.List[0].Type) && isAnyMap(t.Results.List[0].Type)
}

// oneField reports whether l declares exactly one parameter or result.
func oneField(l *ast.FieldList) bool {
	if l == nil || len(l.List) != 1 {
		return false
	}
	return len(l.List[0].Names) <= 1
}

func isAnyMap(e ast.Expr) bool {
	m, ok := e.(*ast.MapType)
	if !ok {
		return false
	}
	if k, ok := m.Key.(*ast.Ident); !ok || k.Name != "string" {
		return false
	}
	switch v := m.Value.(type) {
	case *ast.Ident:
		return v.Name == "any"
	case *ast.InterfaceType:
		return v.Methods == nil || len(v.Methods.List) == 0
	}
	return false
}

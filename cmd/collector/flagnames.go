package main

import (
	"flag"
	"reflect"
	"regexp"

	"github.com/readout-dev/readout/collector"
)

// configErrorInFlags rewrites a collector.Config error, which names fields
// by their Go names, in this command's flag names, found by matching each
// flag's target to a field of cfg: no list to keep in step by hand.
func configErrorInFlags(err error, fs *flag.FlagSet, cfg *collector.Config) string {
	v := reflect.ValueOf(cfg).Elem()
	field := map[uintptr]string{}
	for i := range v.NumField() {
		if f := v.Field(i); f.CanAddr() {
			field[f.Addr().Pointer()] = v.Type().Field(i).Name
		}
	}
	// Fields set from something other than a flag of their own.
	names := map[string]string{"Token": "--token-file", "InsecureNoAuth": "--insecure-no-auth"}
	fs.VisitAll(func(f *flag.Flag) {
		if rv := reflect.ValueOf(f.Value); rv.Kind() == reflect.Pointer {
			if name, ok := field[rv.Pointer()]; ok {
				names[name] = "--" + f.Name
			}
		}
	})
	return fieldName.ReplaceAllStringFunc(err.Error(), func(w string) string {
		if n, ok := names[w]; ok {
			return n
		}
		return w
	})
}

var fieldName = regexp.MustCompile(`\b[A-Z][A-Za-z]+\b`)

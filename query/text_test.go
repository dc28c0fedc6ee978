package query

import (
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestPrintable(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"plain", "@cf/meta/llama-3.1-8b-instruct", "@cf/meta/llama-3.1-8b-instruct"},
		{"empty", "", ""},
		{"printable unicode kept", "模型-ünï 🚀", "模型-ünï 🚀"},
		{"newline", "a\nb", `a\nb`},
		{"carriage return and tab", "a\rb\tc", `a\rb\tc`},
		{"ansi colour", "\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"osc title with bell", "\x1b]0;x\x07", `\x1b]0;x\a`},
		{"delete", "a\x7f", `a\x7f`},
		{"c1 control", "a\u0085b\u009b", `a\u0085b\u009b`},
		{"bidi override", "abc\u202edef", `abc\u202edef`},
		{"bidi isolates", "\u2066x\u2069\u061c", `\u2066x\u2069\u061c`},
		{"zero width", "a\u200bb\u200dc\ufeff", `a\u200bb\u200dc\ufeff`},
		{"line separator", "a\u2028b", `a\u2028b`},
		{"no-break space", "a\u00a0b", `a\u00a0b`},
		{"tag character", "a\U000e0041", `a\U000e0041`},
		{"invalid utf-8", "a\xffb\xc3", `a\xffb\xc3`},
		{"backslash cannot pass for an escape", `a\nb`, `a\\nb`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Printable(tc.in)
			if got != tc.want {
				t.Fatalf("unexpected text; got %q; want %q", got, tc.want)
			}
			for _, r := range got {
				if r == utf8.RuneError || !unicode.IsPrint(r) {
					t.Fatalf("non-printable %U left in %q", r, got)
				}
			}
		})
	}
}

func FuzzPrintable(f *testing.F) {
	f.Add("a\n\x1b[31m\u202e\xff\\")
	f.Fuzz(func(t *testing.T, s string) {
		got := Printable(s)
		if !utf8.ValidString(got) {
			t.Fatalf("invalid UTF-8 out of %q: %q", s, got)
		}
		for _, r := range got {
			if !unicode.IsPrint(r) {
				t.Fatalf("non-printable %U out of %q: %q", r, s, got)
			}
		}
	})
}

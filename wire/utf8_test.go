package wire

import (
	"testing"
	"unicode/utf8"
)

func TestValidString(t *testing.T) {
	cases := []string{
		"", "a", "@cf/meta/llama-3.1-8b-instruct", "exactly8", "sixteen-bytes-ok",
		"\xff", "llama\xff", "0123456\x80", "01234567\xc3", "héllo wörld, ünïcode", "日本語のモデル名",
		"\xed\xa0\x80", "abcdefgh\xf4\x90\x80\x80", "abcdefghijklmno\xe2\x82",
	}
	for _, s := range cases {
		if got, want := validString(s), utf8.ValidString(s); got != want {
			t.Errorf("validString(%q) = %v; want %v", s, got, want)
		}
	}
}

func FuzzValidString(f *testing.F) {
	for _, s := range []string{"", "ascii only", "h\xe9", "日本", "abcdefgh\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validString(s), utf8.ValidString(s); got != want {
			t.Fatalf("validString(%q) = %v; want %v", s, got, want)
		}
	})
}

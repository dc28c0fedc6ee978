package wire

import "unicode/utf8"

// validString is utf8.ValidString with a faster path for all-ASCII
// strings, the common case on Emit's path: it ORs eight bytes at a time
// (the compiler merges the byte loads into one) and checks the high bits
// once, leaving the real validation to the rare string that has a non-ASCII
// byte.
func validString(s string) bool {
	var acc uint64
	i := 0
	for ; i+8 <= len(s); i += 8 {
		acc |= uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
	}
	for ; i < len(s); i++ {
		acc |= uint64(s[i])
	}
	if acc&0x8080808080808080 == 0 {
		return true
	}
	return utf8.ValidString(s)
}

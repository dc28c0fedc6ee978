package report

import (
	"net/url"
	"strings"
)

// normalizeURL removes the query string and fragment of a Hugging Face URL
// or an S3 presigned URL, and returns every other URL exactly as given.
// Both kinds carry per-request signatures, expiries and flags in the query
// (?download=true, X-Amz-Signature=...), which would make every download
// a url of its own in the downloads table, and put credentials in it. u is
// raw parsed.
//
// The cut is made in raw itself, at the first '?' or '#', so that the rest
// of the URL keeps its exact spelling (url.URL.String would re-escape it).
func normalizeURL(raw string, u *url.URL) string {
	if !huggingFaceHost(u.Hostname()) && !s3Presigned(u) {
		return raw
	}
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		return raw[:i]
	}
	return raw
}

// huggingFaceHost reports whether host is Hugging Face's: huggingface.co,
// hf.co, or a name under either (cdn-lfs.huggingface.co,
// cdn-lfs-us-1.hf.co, cas-bridge.xethub.hf.co, ...). A host that merely
// contains the word (huggingface.co.example.com, myhuggingface.co) is not.
func huggingFaceHost(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	for _, d := range [...]string{"huggingface.co", "hf.co"} {
		if h == d || strings.HasSuffix(h, "."+d) {
			return true
		}
	}
	return false
}

// s3Presigned reports whether u's query is an S3 presigned one: signature
// version 4 (X-Amz-Signature or X-Amz-Credential) or version 2
// (Signature, Expires and AWSAccessKeyId together). Parameter names are
// matched without regard to case; the host does not matter, since
// S3-compatible stores (R2, MinIO, GCS's interoperability mode) presign
// the same way.
func s3Presigned(u *url.URL) bool {
	if u.RawQuery == "" {
		return false
	}
	var sig, expires, keyID bool
	for k := range u.Query() {
		switch {
		case strings.EqualFold(k, "X-Amz-Signature"), strings.EqualFold(k, "X-Amz-Credential"):
			return true
		case strings.EqualFold(k, "Signature"):
			sig = true
		case strings.EqualFold(k, "Expires"):
			expires = true
		case strings.EqualFold(k, "AWSAccessKeyId"):
			keyID = true
		}
	}
	return sig && expires && keyID
}

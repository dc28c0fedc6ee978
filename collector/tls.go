package collector

import (
	"crypto/tls"
	"fmt"
)

// LoadTLSConfig reads a PEM certificate chain and its private key and
// returns the server TLS configuration for the ingest listener: TLS 1.2 at
// least, Go's default cipher suites. The files are read once; replacing a
// certificate takes a restart.
func LoadTLSConfig(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert %s / --tls-key %s: %w", certFile, keyFile, err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
	}, nil
}

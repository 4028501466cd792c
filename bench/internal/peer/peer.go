// Package peer holds the settings both benchmark commands (compare and wan)
// give the transports STT is measured against, so the two tables measure
// the same quic-go and TLS: a throwaway self-signed TLS 1.3 certificate for
// localhost and quic-go's flow-control windows sized like STT's.
package peer

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"time"

	"github.com/quic-go/quic-go"
)

// ServerTLS returns a TLS 1.3 server configuration with a fresh
// self-signed certificate for localhost and 127.0.0.1, offering alpn.
func ServerTLS(alpn string) (*tls.Config, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		MinVersion:   tls.VersionTLS13,
		NextProtos:   []string{alpn},
	}, nil
}

// ClientTLS returns the matching client configuration (the certificate is
// not verified: it is made per run).
func ClientTLS(alpn string) *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13, NextProtos: []string{alpn}, ServerName: "localhost"}
}

// QUICConfig is quic-go's configuration in both commands: windows up to
// 16 MiB per stream and 24 MiB per connection, as STT's defaults.
func QUICConfig() *quic.Config {
	return &quic.Config{
		MaxIncomingStreams:             10_000,
		InitialStreamReceiveWindow:     512 << 10,
		MaxStreamReceiveWindow:         16 << 20,
		InitialConnectionReceiveWindow: 1 << 20,
		MaxConnectionReceiveWindow:     24 << 20,
		MaxIdleTimeout:                 30 * time.Second,
	}
}

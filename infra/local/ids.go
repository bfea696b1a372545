package local

import (
	"crypto/rand"
	"encoding/base64"
)

// newGatewayRequestID returns a request id in API Gateway's style: 16
// characters of base64, e.g. "Ld3Ad2kBIAMEJIg=".
func newGatewayRequestID() string {
	var b [11]byte
	rand.Read(b[:]) // never fails (Go 1.24+)
	return base64.StdEncoding.EncodeToString(b[:])
}

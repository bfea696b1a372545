package local

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
)

// newGatewayRequestID returns a request id in API Gateway's style: 16
// characters of base64, e.g. "Ld3Ad2kBIAMEJIg=".
func newGatewayRequestID() string {
	var b [11]byte
	_, _ = rand.Read(b[:]) // never fails on supported platforms
	return base64.StdEncoding.EncodeToString(b[:])
}

// newUUID returns a random (version 4) UUID, Lambda's request id format.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

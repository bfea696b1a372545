// Package appjwt signs the RS256 JWTs a GitHub App authenticates with and
// reads the App's private key, for sandstep's GitHub client and for the
// local GitHub stand-in's tests (which sign malformed ones on purpose).
package appjwt

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Header is RS256's JWT header.
var Header = map[string]any{"alg": "RS256", "typ": "JWT"}

// ParseKey reads an RSA private key in PEM: PKCS#1, as GitHub issues an
// App's, or PKCS#8. Its errors never quote the key.
func ParseKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("neither a PKCS#1 nor a PKCS#8 private key")
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("a %T, not an RSA key", k)
	}
	return rk, nil
}

// Sign returns the JWT of header and claims (each marshalled to JSON)
// signed with RS256 under key.
func Sign(key *rsa.PrivateKey, header, claims any) (string, error) {
	h, err := json.Marshal(header)
	if err != nil {
		return "", err
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signing := b64(h) + "." + b64(c)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("sign a JWT: %w", err)
	}
	return signing + "." + b64(sig), nil
}

// ForApp is the JWT a GitHub App authenticates with, as GitHub asks:
// RS256, iss the App's id, iat a minute in the past for clock drift, and
// exp within GitHub's 10 minutes of now (9 from now: a minute's margin for
// a clock running ahead).
func ForApp(key *rsa.PrivateKey, appID int64, now time.Time) (string, error) {
	return Sign(key, Header, map[string]any{
		"iss": strconv.FormatInt(appID, 10), "iat": now.Add(-time.Minute).Unix(), "exp": now.Add(9 * time.Minute).Unix(),
	})
}

// b64 is a JWT part's encoding: base64url without padding.
func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

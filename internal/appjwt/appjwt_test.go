package appjwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
)

func TestSignAndParseKey(t *testing.T) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(k)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	tests := []struct {
		name string
		pem  []byte
		ok   bool
	}{
		{"PKCS#1, as GitHub issues it", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), true},
		{"PKCS#8", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), true},
		{"not PEM", []byte("secret-looking-text"), false},
		{"an EC key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseKey(tt.pem)
			if (err == nil) != tt.ok {
				t.Fatalf("ParseKey: %v, want ok=%v", err, tt.ok)
			}
			if err != nil && strings.Contains(err.Error(), "secret-looking") {
				t.Errorf("the error quotes the key: %v", err)
			}
			if !tt.ok {
				return
			}
			tok, err := Sign(got, Header, map[string]any{"iss": "7"})
			if err != nil {
				t.Fatal(err)
			}
			parts := strings.Split(tok, ".")
			head, _ := base64.RawURLEncoding.DecodeString(parts[0])
			sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
			sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
			if len(parts) != 3 || string(head) != `{"alg":"RS256","typ":"JWT"}` || rsa.VerifyPKCS1v15(&k.PublicKey, crypto.SHA256, sum[:], sig) != nil {
				t.Errorf("token %q does not verify as RS256 under the key", tok)
			}
		})
	}
}

// Package notify sends a task's completion notice to the URL its caller
// gave, signed the way GitHub signs webhooks, and checks such a delivery
// for its receiver (Verify).
//
// A Sender connects only to public addresses. The check is made on the
// address actually dialled, after name resolution (a net.Dialer Control
// function), so a name that resolves to a private or metadata address is
// refused, and DNS rebinding cannot get round it.
package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// The headers of a delivery.
const (
	// HeaderSignature is "sha256=" and the hex HMAC-SHA256 of the raw body,
	// keyed with the secret the task's notify.secretRef names; absent
	// when the task names none.
	HeaderSignature = "X-Sandstep-Signature-256"
	// HeaderDelivery is the delivery's id, the same on every attempt. A
	// receiver drops a notice it already has by the body's deliveryId,
	// which the signature covers, not by this header.
	HeaderDelivery = "X-Sandstep-Delivery"
	// HeaderEvent names what happened.
	HeaderEvent = "X-Sandstep-Event"
)

// EventTaskEnded is the event of a task's completion notice.
const EventTaskEnded = "task.ended"

const signaturePrefix = "sha256="

// Sign returns the signature header's value for body: "sha256=" and the
// hex HMAC-SHA256 of body keyed with secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return signaturePrefix + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether signature (the HeaderSignature value) is body's,
// signed with secret. It compares in constant time.
func Verify(secret, body []byte, signature string) bool {
	hexSum, ok := strings.CutPrefix(signature, signaturePrefix)
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSum)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

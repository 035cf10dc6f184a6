package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/ticketing-on-knative/ticketing/internal/config"
)

// SignatureExtension is the CloudEvents extension attribute that carries an
// event's signature: "v1:<key id>:<HMAC-SHA256, base64url>". The HMAC covers
// the event's id, source, type, subject, time and data, so an event that
// any of them differs in is not the event that was signed. It does not
// cover the extensions, which Knative adds to on the way (the dead-letter
// attributes, trace context).
//
// The broker, the network and anything else that can POST to a handler
// cannot make a signature: only the functions that hold a key can. It
// proves that one of the project's functions decided the event, however it
// travelled; a copy of a signed event replayed later is a duplicate, which
// the consumers recognise by its source and id.
const SignatureExtension = "signature"

// KeysVariable is the environment variable that holds the signing keys,
// from key event-signing-keys of Secret ticketing.
const KeysVariable = "EVENT_SIGNING_KEYS"

// MinKeyBytes is the shortest key Keys accepts: 32 bytes, as long as the
// HMAC-SHA256 output, so a key is no weaker than the MAC.
const MinKeyBytes = 32

// signatureVersion names the algorithm and the canonical form of what is
// signed; a change of either is a new version.
const signatureVersion = "v1"

// Keys signs events with the first of its keys and verifies them with any.
// Holding two keys is how a key is rotated without refusing events in
// flight: see docs/SECURITY.md.
type Keys struct {
	keys []key
}

type key struct {
	id     string // names the key in signatures and logs, without revealing it
	secret []byte
}

// ParseKeys reads keys separated by commas or white space, the signing key
// first. Each must be at least MinKeyBytes long.
func ParseKeys(s string) (*Keys, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
	if len(fields) == 0 {
		return nil, errors.New("no key: give at least one key of 32 bytes or more, such as the output of openssl rand -base64 48")
	}
	k := &Keys{}
	for i, f := range fields {
		if len(f) < MinKeyBytes {
			return nil, fmt.Errorf("key %d of %d is %d bytes long; a key must be at least %d bytes (openssl rand -base64 48 makes one)", i+1, len(fields), len(f), MinKeyBytes)
		}
		sum := sha256.Sum256([]byte(f))
		k.keys = append(k.keys, key{id: hex.EncodeToString(sum[:4]), secret: []byte(f)})
	}
	return k, nil
}

// KeysFromEnv reads $EVENT_SIGNING_KEYS; cfg.Err reports it missing or
// malformed. A function that publishes or receives events calls it in
// Start, before it checks cfg.Err.
func KeysFromEnv(cfg *config.Env) *Keys {
	v := cfg.Require(KeysVariable)
	if v == "" {
		return nil
	}
	k, err := ParseKeys(v)
	if err != nil {
		cfg.Invalid(KeysVariable, err)
		return nil
	}
	return k
}

// SigningKeyID is the id of the key that signs, as signatures and logs
// name it.
func (k *Keys) SigningKeyID() string { return k.keys[0].id }

// Sign sets e's signature, made with the signing key. It signs only an
// event of the catalogue from a function that emits its type (Emitters), so
// a signature also vouches that the event is one the system defines.
func (k *Keys) Sign(e *cloudevents.Event) error {
	if !emitted(e.Type(), e.Source()) {
		return fmt.Errorf("sign event %s: type %q from source %q is not in the catalogue's Emitters (internal/events)", e.ID(), e.Type(), e.Source())
	}
	signing := k.keys[0]
	e.SetExtension(SignatureExtension, signatureVersion+":"+signing.id+":"+base64.RawURLEncoding.EncodeToString(mac(signing.secret, *e)))
	return nil
}

// ErrSignature is what Verify returns, wrapped with the reason, for an
// event it cannot authenticate.
var ErrSignature = errors.New("event not signed with a key of this system")

// Verify returns nil when e carries a signature made with one of k's keys
// over e as it is, and an error wrapping ErrSignature that says why not.
func (k *Keys) Verify(e cloudevents.Event) error {
	if _, ok := e.Extensions()[SignatureExtension]; !ok {
		return fmt.Errorf("%w: it has no %s attribute", ErrSignature, SignatureExtension)
	}
	id, got, ok := signature(e)
	if !ok {
		return fmt.Errorf("%w: its %s is not %s:<key id>:<mac>", ErrSignature, SignatureExtension, signatureVersion)
	}
	i := slices.IndexFunc(k.keys, func(k key) bool { return k.id == id })
	if i < 0 {
		return fmt.Errorf("%w: signed with key %s, which is not among this function's keys (%s)", ErrSignature, id, k.ids())
	}
	if !hmac.Equal(got, mac(k.keys[i].secret, e)) {
		return fmt.Errorf("%w: the signature by key %s does not match the event", ErrSignature, id)
	}
	return nil
}

// SigningKeyOf returns the id of the key e says it is signed with, or ""
// when it carries no signature of this form. It does not verify.
func SigningKeyOf(e cloudevents.Event) string {
	id, _, _ := signature(e)
	return id
}

// signature reads e's signature: the key id and the MAC.
func signature(e cloudevents.Event) (id string, mac []byte, ok bool) {
	s, _ := e.Extensions()[SignatureExtension].(string)
	version, rest, _ := strings.Cut(s, ":")
	id, encoded, found := strings.Cut(rest, ":")
	if version != signatureVersion || !found {
		return "", nil, false
	}
	mac, err := base64.RawURLEncoding.DecodeString(encoded)
	if err != nil {
		return "", nil, false
	}
	return id, mac, true
}

func (k *Keys) ids() string {
	ids := make([]string, len(k.keys))
	for i, key := range k.keys {
		ids[i] = key.id
	}
	return strings.Join(ids, ", ")
}

// mac is the HMAC-SHA256 of e's signed attributes and data, each preceded
// by its length so that no two events sign the same bytes. The time is
// written in one canonical form: brokers parse and re-format it.
func mac(secret []byte, e cloudevents.Event) []byte {
	var t string
	if !e.Time().IsZero() {
		t = e.Time().UTC().Format(time.RFC3339Nano)
	}
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(signatureVersion))
	for _, field := range [][]byte{[]byte(e.ID()), []byte(e.Source()), []byte(e.Type()), []byte(e.Subject()), []byte(t), e.Data()} {
		h.Write(binary.AppendUvarint(nil, uint64(len(field))))
		h.Write(field)
	}
	return h.Sum(nil)
}

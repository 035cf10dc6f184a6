package auth

import (
	"fmt"

	"golang.org/x/crypto/bcrypt"
)

// HashPassword returns a salted bcrypt hash of password.
func HashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// dummyHash is compared against when a user does not exist, so that an
// unknown email takes as long to refuse as a wrong password. It is a constant
// because hashing at start-up would cost every cold start tens of milliseconds.
const dummyHash = "$2a$10$BKa.an/an29yWmEvzZ4c4eHCughhXVN.jA5BEmekgwdFhFtdpdFlS"

// CheckPassword reports whether password matches hash. An empty hash (no
// such user) is checked against a dummy so that timing reveals nothing.
func CheckPassword(hash, password string) bool {
	if hash == "" {
		_ = bcrypt.CompareHashAndPassword([]byte(dummyHash), []byte(password))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}

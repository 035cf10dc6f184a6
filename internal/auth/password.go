package auth

import (
	"fmt"

	"golang.org/x/crypto/bcrypt"

	"github.com/ticketing-on-knative/ticketing/internal/config"
)

// PasswordCost is the bcrypt cost of $PASSWORD_COST, default 10. Tests lower
// it: under the race detector one hash at cost 10 takes about a second.
func PasswordCost(cfg *config.Env) int {
	cost := cfg.Int("PASSWORD_COST", bcrypt.DefaultCost)
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		cfg.Invalid("PASSWORD_COST", fmt.Errorf("%d is not between %d and %d", cost, bcrypt.MinCost, bcrypt.MaxCost))
	}
	return cost
}

// HashPassword returns a salted bcrypt hash of password.
func HashPassword(password string, cost int) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
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

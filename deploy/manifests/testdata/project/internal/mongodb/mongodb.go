package mongodb

import (
	"time"

	"example.com/shop/internal/config"
)

// Open passes the database's default on: each function names its own.
func Open(cfg *config.Env, database string) {
	cfg.Require("MONGODB_URI")
	cfg.String("MONGODB_DATABASE", database)
	cfg.Duration("MONGODB_TIMEOUT", 5*time.Second)
}

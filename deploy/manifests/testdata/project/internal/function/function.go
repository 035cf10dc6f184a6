package function

import (
	"time"

	"example.com/shop/internal/config"
)

func Main(cfg *config.Env) {
	cfg.String("PORT", "8080")
	cfg.Duration("SHUTDOWN_TIMEOUT", 20*time.Second)
}

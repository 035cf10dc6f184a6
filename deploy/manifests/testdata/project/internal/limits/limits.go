package limits

import "example.com/shop/internal/config"

// FromEnv takes the variable's name and default from its caller.
func FromEnv(cfg *config.Env, variable, def string) string { return cfg.String(variable, def) }

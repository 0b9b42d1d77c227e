package plugin

// UncheckedBuiltins says whether built-in modules run without wazero's
// deadline checks here (watchdog.go).
const UncheckedBuiltins = uncheckedBuiltins

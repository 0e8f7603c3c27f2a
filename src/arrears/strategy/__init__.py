"""The strategy engine: load and check strategy files, compile them to set-based SQL, assign
variants and plan the day's actions. The pure language lives in `arrears.domain.strategy`."""

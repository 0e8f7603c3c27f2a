"""The strategy language, pure: expressions, the strategy model, variants, the reference
evaluator and static checks. Loading YAML and compiling to SQL live in `arrears.strategy`."""

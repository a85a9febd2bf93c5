"""Who may do what: credentials (auth), the rules (policy), the web's protections (security)
and the input gate (inputs)."""

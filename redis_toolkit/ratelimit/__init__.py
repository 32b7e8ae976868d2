"""Rate limits: rules (the "N/period" grammar), the core check (one Lua call) and the Django view adapter."""
